import type { JobLogFields, LogLevel, MetricName, Telemetry } from '../../shared/telemetry.js';

/** Telemetry kept in memory, for tests that check what operators would see. */
export class RecordingTelemetry implements Telemetry {
  readonly lines: Array<{ level: LogLevel; message: string; fields: JobLogFields }> = [];
  readonly metrics: Array<{ name: MetricName; value: number; dimensions: Record<string, string> }> = [];

  log(level: LogLevel, message: string, fields: JobLogFields): void {
    this.lines.push({ level, message, fields });
  }

  metric(name: MetricName, value: number, dimensions: Record<string, string> = {}): void {
    this.metrics.push({ name, value, dimensions });
  }

  /** The sum of a counter's values with these dimensions (all, when none are given). */
  total(name: MetricName, dimensions: Record<string, string> = {}): number {
    return this.metrics
      .filter((m) => m.name === name && Object.entries(dimensions).every(([k, v]) => m.dimensions[k] === v))
      .reduce((sum, m) => sum + m.value, 0);
  }
}
