import type { ComponentLogger } from '../host/logger.js';
import { drain, Poller } from '../util/poller.js';
import type { LeaseKeeper, QueueMessage, WorkQueue } from './workQueue.js';

export interface BundleRunnerOptions<TBody, TItem, TState> {
  name: string;
  queue: WorkQueue<TBody>;
  leases: LeaseKeeper;
  logger: ComponentLogger;
  /** Items run at once, across messages. */
  concurrency: number;
  /** Items waiting locally past which new messages are left in the queue instead of held. */
  maxBacklog: number;
  maxPollIntervalMs: number;
  /** Messages taken per receive (4 unless said). */
  receiveMax?: number;
  /** Whether to receive more now, beside the runner's own limits (a consumer with its own). */
  ready?: () => boolean;
  items: (body: TBody, message: QueueMessage<TBody>) => TItem[];
  /** Fresh bookkeeping for one message, shared by its items and its settlement. */
  state: (message: QueueMessage<TBody>) => TState;
  run: (item: TItem, state: TState) => Promise<void>;
  /** Called once every item of a message has run; resolving deletes the message, throwing retries it. */
  settle: (message: QueueMessage<TBody>, state: TState) => Promise<void>;
}

interface Held<TBody, TState> {
  message: QueueMessage<TBody>;
  remaining: number;
  state: TState;
}

/**
 * Runs the items of queue messages that each carry several of them (activity bundles, event
 * batches): at most `concurrency` items at a time; a message stays leased while any of its items
 * is pending and is settled once all have run; on stop, messages with items not yet run go back to
 * the queue. Messages this process sends are held and run here without a receive while the local
 * backlog is short.
 */
export class BundleRunner<TBody, TItem, TState> {
  readonly #o: BundleRunnerOptions<TBody, TItem, TState>;
  readonly #pending: Array<{ held: Held<TBody, TState>; item: TItem }> = [];
  readonly #held = new Set<Held<TBody, TState>>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #poller: Poller;
  #running = 0;
  #stopped = true;
  /**
   * Whether the queue may hold messages this runner has not taken: some were left there (the
   * backlog was full) or the last receive came back full. Only then is it polled at once when
   * work runs out; otherwise its own interval finds what others send, and a receive after every
   * finished item (each an empty one, since this process holds what it sends) is saved.
   */
  #leftInQueue = true;

  constructor(options: BundleRunnerOptions<TBody, TItem, TState>) {
    this.#o = options;
    this.#poller = new Poller({
      name: options.name,
      logger: options.logger,
      maxIntervalMs: options.maxPollIntervalMs,
      poll: async () => {
        if (this.#pending.length > 0 || this.#running >= options.concurrency) return 0;
        if (options.ready && !options.ready()) return 0;
        const max = options.receiveMax ?? 4;
        const messages = await options.queue.receive(max);
        this.#leftInQueue = messages.length >= max;
        for (const message of messages) this.#accept(message);
        return messages.length;
      },
    });
  }

  /** Items waiting or running here. */
  get busy(): number {
    return this.#pending.length + this.#running;
  }

  start(): void {
    this.#stopped = false;
    this.#poller.start();
  }

  /** Polls now: messages were just sent. */
  wake(): void {
    this.#leftInQueue = true;
    this.#poller.wake();
  }

  /** Polls now if the queue may hold messages this runner has not taken (it has room again). */
  resume(): void {
    if (this.#leftInQueue) this.#poller.wake();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#poller.stop();
    this.#pending.length = 0;
    await drain(this.#inFlight);
    await Promise.all(
      [...this.#held].map(async (held) => {
        this.#o.leases.release(held.message);
        await this.#o.queue.abandon(held.message, 0).catch(() => undefined);
      }),
    );
    this.#held.clear();
  }

  /** Whether a message submitted now is held and run here (rather than left for a receive). */
  get canHold(): boolean {
    return !this.#stopped && this.#pending.length < this.#o.maxBacklog;
  }

  /** Sends a message: held and run here while the backlog is short, else left for a receive. */
  async submit(body: TBody): Promise<void> {
    const hold = this.canHold;
    const sent = await this.#o.queue.send(body, { hold });
    if (hold && !this.#stopped) this.#accept(sent);
    else {
      this.#leftInQueue = true;
      this.#poller.wake();
    }
  }

  /** Tracks work the caller starts on the runner's behalf, so stop() waits for it. */
  track(work: Promise<unknown>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  #accept(message: QueueMessage<TBody>): void {
    this.#o.leases.hold(this.#o.queue, message);
    const items = this.#o.items(message.body, message);
    const held: Held<TBody, TState> = { message, remaining: items.length, state: this.#o.state(message) };
    this.#held.add(held);
    if (items.length === 0) {
      this.track(this.#settle(held));
      return;
    }
    for (const item of items) this.#pending.push({ held, item });
    this.#pump();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#o.concurrency && this.#pending.length > 0) {
      const { held, item } = this.#pending.shift()!;
      this.#running++;
      const work = this.#o
        .run(item, held.state)
        .catch((error: unknown) =>
          this.#o.logger.error(`${this.#o.name}: an item failed unexpectedly`, error),
        )
        .then(async () => {
          held.remaining--;
          if (held.remaining === 0) await this.#settle(held);
        })
        .finally(() => {
          this.#running--;
          this.#pump();
          if (this.#pending.length === 0 && this.#leftInQueue) this.#poller.wake();
        });
      this.track(work);
    }
  }

  async #settle(held: Held<TBody, TState>): Promise<void> {
    const { queue, leases, logger } = this.#o;
    this.#held.delete(held);
    try {
      await this.#o.settle(held.message, held.state);
      leases.release(held.message);
      await queue.complete(held.message);
    } catch (error) {
      leases.release(held.message);
      logger.error(`${this.#o.name}: could not settle a message; it will run again`, error);
      await queue.abandon(held.message, 1000).catch(() => undefined);
    }
  }
}
