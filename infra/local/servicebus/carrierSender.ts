import type { WorkQueue } from '../storage/workQueue.js';
import {
  CARRIER_MAX_BODY_BYTES,
  CARRIER_MAX_MESSAGES,
  type Carrier,
  type ServiceBusMessage,
} from './messages.js';

/** Sends within this window share a carrier: long enough to gather a burst, short beside a send's own cost. */
const WINDOW_MS = 3;

interface Gathering {
  messages: ServiceBusMessage[];
  bytes: number;
  waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
  timer?: NodeJS.Timeout;
}

/**
 * Stores the messages sent to one queue, those sent within a few milliseconds of each other in
 * one carrier (up to {@link CARRIER_MAX_MESSAGES} or {@link CARRIER_MAX_BODY_BYTES}). Each send
 * resolves once its carrier is stored, so a sender that has heard back knows its message is
 * durable, as with Service Bus.
 */
export class CarrierSender {
  #gathering: Gathering = { messages: [], bytes: 0, waiters: [] };

  constructor(
    private readonly queue: WorkQueue<Carrier>,
    private readonly sent: () => void,
    /**
     * Hands a carrier to a receiver in this process that can take it now (it stores it held and
     * delivers it without a receive), or says no receiver can (undefined).
     */
    private readonly handOff: (carrier: Carrier) => Promise<void> | undefined = () => undefined,
  ) {}

  /** Stores messages; with a delay they are stored at once, in a carrier of their own. */
  async send(messages: ServiceBusMessage[], delayMs = 0): Promise<void> {
    if (messages.length === 0) return;
    if (delayMs > 0) {
      await this.queue.send({ messages }, { delayMs });
      return;
    }
    const stored: Array<Promise<void>> = [];
    let joined: Gathering | undefined;
    for (const message of messages) {
      const bytes = message.body.length;
      const full =
        this.#gathering.messages.length >= CARRIER_MAX_MESSAGES ||
        (this.#gathering.messages.length > 0 && this.#gathering.bytes + bytes > CARRIER_MAX_BODY_BYTES);
      if (full) this.#flush();
      const gathering = this.#gathering;
      if (gathering !== joined) {
        joined = gathering;
        stored.push(new Promise((resolve, reject) => gathering.waiters.push({ resolve, reject })));
      }
      gathering.timer ??= setTimeout(() => this.#flush(), WINDOW_MS);
      gathering.messages.push(message);
      gathering.bytes += bytes;
    }
    await Promise.all(stored);
  }

  /** Stores what is gathered now (at stop). */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    const gathering = this.#gathering;
    clearTimeout(gathering.timer);
    this.#gathering = { messages: [], bytes: 0, waiters: [] };
    if (gathering.messages.length === 0) return;
    const handed = this.handOff({ messages: gathering.messages });
    const stored = handed ?? this.queue.send({ messages: gathering.messages }).then(() => this.sent());
    stored.then(
      () => {
        for (const waiter of gathering.waiters) waiter.resolve();
      },
      (error: unknown) => {
        for (const waiter of gathering.waiters) waiter.reject(error);
      },
    );
  }
}
