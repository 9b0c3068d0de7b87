import type { ComponentLogger } from '../host/logger.js';

export interface PollerOptions {
  /** Polls once; returns how many items it found (0 backs off). */
  poll: () => Promise<number>;
  /** The longest wait between polls when idle. */
  maxIntervalMs: number;
  minIntervalMs?: number;
  logger: ComponentLogger;
  name: string;
}

/**
 * Polls in a loop with exponential back-off while idle, like the Functions host's queue listeners.
 * `wake()` cuts a wait short (for work this process knows it just created elsewhere).
 */
export class Poller {
  readonly #options: PollerOptions;
  #stopped = true;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #interval: number;

  constructor(options: PollerOptions) {
    this.#options = options;
    this.#interval = options.minIntervalMs ?? 50;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  wake(): void {
    this.#interval = this.#options.minIntervalMs ?? 50;
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const min = this.#options.minIntervalMs ?? 50;
    let failures = 0;
    while (!this.#stopped) {
      let found = 0;
      try {
        found = await this.#options.poll();
        failures = 0;
      } catch (error) {
        failures++;
        // Storage going away (shutdown, restart of Azurite) shows up here; say so once, not per poll.
        if (failures === 1 || failures % 30 === 0) {
          this.#options.logger.warn(`${this.#options.name}: polling failed (${failures}x): ${String(error)}`);
        }
      }
      if (this.#stopped) break;
      if (found > 0) {
        this.#interval = min;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, this.#interval);
      });
      clearTimeout(this.#timer);
      this.#wake = undefined;
      this.#interval = Math.min(this.#options.maxIntervalMs, Math.max(min, this.#interval * 2));
    }
  }
}

/** A counting semaphore with a wait queue. */
export class Semaphore {
  #available: number;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly capacity: number) {
    this.#available = capacity;
  }

  get available(): number {
    return this.#available;
  }

  get inUse(): number {
    return this.capacity - this.#available;
  }

  tryAcquire(): boolean {
    if (this.#available <= 0) return false;
    this.#available--;
    return true;
  }

  async acquire(): Promise<void> {
    if (this.tryAcquire()) return;
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#available++;
  }
}

/** Resolves once every promise in the set has settled, including ones added while waiting. */
export async function drain(pending: Set<Promise<unknown>>): Promise<void> {
  while (pending.size > 0) {
    await Promise.allSettled([...pending]);
  }
}
