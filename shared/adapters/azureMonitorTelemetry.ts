import { AzureMonitorLogExporter, AzureMonitorMetricExporter } from '@azure/monitor-opentelemetry-exporter';
import type { TokenCredential } from '@azure/identity';
import { SeverityNumber, type Logger } from '@opentelemetry/api-logs';
import type { Counter, Histogram } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { METRICS, type JobLogFields, type LogLevel, type MetricName, type Telemetry } from '../telemetry.js';

export interface AzureMonitorTelemetryOptions {
  /** Application Insights' connection string (its ingestion endpoint and resource). */
  connectionString: string;
  /** The app's identity, when the resource takes only Microsoft Entra authenticated telemetry. */
  credential?: TokenCredential;
  /** What Application Insights shows as the role (cloud_RoleName). */
  serviceName: string;
  /** How often metrics are sent; Azure Monitor aggregates per minute. */
  metricIntervalMs?: number;
  /** Where telemetry waits while Azure Monitor cannot be reached; none keeps nothing. */
  storageDirectory?: string;
}

const SEVERITY: Record<LogLevel, SeverityNumber> = {
  information: SeverityNumber.INFO,
  warning: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

// How long the job that has waited longest has waited is a measurement to take the maximum of;
// everything else counts things.
const MEASURED: ReadonlySet<MetricName> = new Set([METRICS.oldestStateAgeSeconds]);

/**
 * Telemetry to Application Insights through OpenTelemetry's Azure Monitor exporters. A log
 * line's fields become the trace's customDimensions (`customDimensions.jobId`), so a job's whole
 * story is one query. The Functions host sends its own telemetry (requests, host logs) alongside.
 */
export class AzureMonitorTelemetry implements Telemetry {
  readonly #logs: LoggerProvider;
  readonly #metrics: MeterProvider;
  readonly #logger: Logger;
  readonly #counters = new Map<MetricName, Counter>();
  readonly #histograms = new Map<MetricName, Histogram>();

  constructor(options: AzureMonitorTelemetryOptions) {
    const exporterOptions = {
      connectionString: options.connectionString,
      ...(options.credential ? { credential: options.credential } : {}),
      ...(options.storageDirectory
        ? { storageDirectory: options.storageDirectory }
        : { disableOfflineStorage: true }),
    };
    const resource = resourceFromAttributes({ 'service.name': options.serviceName });
    this.#logs = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor(new AzureMonitorLogExporter(exporterOptions))],
    });
    this.#metrics = new MeterProvider({
      resource,
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new AzureMonitorMetricExporter(exporterOptions),
          exportIntervalMillis: options.metricIntervalMs ?? 60_000,
        }),
      ],
    });
    this.#logger = this.#logs.getLogger('cloudjobs');
  }

  log(level: LogLevel, message: string, fields: JobLogFields): void {
    try {
      const attributes: Record<string, string | number | boolean> = {};
      for (const [name, value] of Object.entries(fields)) if (value !== undefined) attributes[name] = value;
      this.#logger.emit({ severityNumber: SEVERITY[level], severityText: level, body: message, attributes });
    } catch {
      // Telemetry never fails the work it reports on.
    }
  }

  metric(name: MetricName, value: number, dimensions: Record<string, string> = {}): void {
    try {
      const meter = this.#metrics.getMeter('cloudjobs');
      if (MEASURED.has(name)) {
        let histogram = this.#histograms.get(name);
        if (!histogram) this.#histograms.set(name, (histogram = meter.createHistogram(name)));
        histogram.record(value, dimensions);
      } else {
        let counter = this.#counters.get(name);
        if (!counter) this.#counters.set(name, (counter = meter.createCounter(name)));
        counter.add(value, dimensions);
      }
    } catch {
      // As above.
    }
  }

  /** Sends what is waiting, e.g. before the process ends. */
  async flush(): Promise<void> {
    await Promise.all([this.#logs.forceFlush(), this.#metrics.forceFlush()]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.#logs.shutdown(), this.#metrics.shutdown()]);
  }
}
