import type { JobLogFields, LogLevel, Telemetry } from '../telemetry.js';

/**
 * Telemetry on one machine: log lines on the console, prefixed with the job (and task) they are
 * about so they can be grepped; metrics are Azure Monitor's business and are dropped.
 */
export class ConsoleTelemetry implements Telemetry {
  constructor(private readonly write: (level: LogLevel, line: string) => void = defaultWrite) {}

  log(level: LogLevel, message: string, fields: JobLogFields): void {
    const subject = fields.taskId ? `job ${fields.jobId} task ${fields.taskId}` : `job ${fields.jobId}`;
    this.write(level, `cloudjobs: ${subject}: ${message}`);
  }

  metric(): void {}
}

function defaultWrite(level: LogLevel, line: string): void {
  if (level === 'error') console.error(line);
  else if (level === 'warning') console.warn(line);
  else console.info(line);
}
