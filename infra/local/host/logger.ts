import type { RpcLogLevel } from './coreTypes.js';

const LEVEL_ORDER: Record<RpcLogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};

const LEVEL_LABEL: Record<RpcLogLevel, string> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  information: 'INFO ',
  warning: 'WARN ',
  error: 'ERROR',
  critical: 'CRIT ',
  none: '     ',
};

const LEVEL_COLOR: Partial<Record<RpcLogLevel, string>> = {
  trace: '\x1b[90m',
  debug: '\x1b[90m',
  warning: '\x1b[33m',
  error: '\x1b[31m',
  critical: '\x1b[31m',
};

/** Accepts the names host.json uses (`Information`, `Warning`, ...) as well as the RPC ones. */
export function parseLogLevel(value: string | undefined): RpcLogLevel | undefined {
  if (!value) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'info') return 'information';
  if (lower === 'warn') return 'warning';
  return lower in LEVEL_ORDER ? (lower as RpcLogLevel) : undefined;
}

export interface LogRecord {
  level: RpcLogLevel;
  /** `runtime`, a component (`durable`, `servicebus`, ...) or a function name. */
  source: string;
  invocationId?: string;
  message: string;
}

export interface LoggerOptions {
  defaultLevel: RpcLogLevel;
  /** Per-category thresholds: `Function.<name>`, `Host.<component>`, as host.json `logging.logLevel`. */
  categoryLevels?: Record<string, RpcLogLevel>;
  write?: (line: string) => void;
  color?: boolean;
}

/** Writes one readable line per record: time, level, source, short invocation id, message. */
export class Logger {
  readonly #options: LoggerOptions;
  readonly #write: (line: string) => void;
  readonly #color: boolean;

  constructor(options: LoggerOptions) {
    this.#options = options;
    this.#write = options.write ?? ((line) => process.stdout.write(line + '\n'));
    this.#color = options.color ?? Boolean(process.stdout.isTTY);
  }

  enabled(level: RpcLogLevel, category: string): boolean {
    const levels = this.#options.categoryLevels ?? {};
    let threshold = this.#options.defaultLevel;
    // The most specific category prefix wins, as in host.json.
    let best = -1;
    for (const [prefix, value] of Object.entries(levels)) {
      if ((category === prefix || category.startsWith(prefix + '.')) && prefix.length > best) {
        best = prefix.length;
        threshold = value;
      }
    }
    return level !== 'none' && LEVEL_ORDER[level] >= LEVEL_ORDER[threshold];
  }

  log(record: LogRecord, category = `Host.${record.source}`): void {
    if (!this.enabled(record.level, category)) return;
    const time = new Date().toISOString().slice(11, 23);
    const id = record.invocationId ? ` ${record.invocationId.slice(0, 8)}` : '';
    const text = `${time} ${LEVEL_LABEL[record.level]} [${record.source}${id}] ${record.message}`;
    const color = this.#color ? LEVEL_COLOR[record.level] : undefined;
    this.#write(color ? `${color}${text}\x1b[0m` : text);
  }

  /** A logger bound to one component of the runtime. */
  child(source: string): ComponentLogger {
    return new ComponentLogger(this, source);
  }
}

export class ComponentLogger {
  constructor(
    readonly parent: Logger,
    readonly source: string,
  ) {}

  debug(message: string): void {
    this.parent.log({ level: 'debug', source: this.source, message });
  }

  info(message: string): void {
    this.parent.log({ level: 'information', source: this.source, message });
  }

  warn(message: string): void {
    this.parent.log({ level: 'warning', source: this.source, message });
  }

  error(message: string, error?: unknown): void {
    const detail = error === undefined ? '' : `: ${describeError(error)}`;
    this.parent.log({ level: 'error', source: this.source, message: message + detail });
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
