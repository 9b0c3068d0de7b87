import { randomUUID } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import type { ComponentLogger } from '../host/logger.js';

/** A message taken from (or sent to and held from) a queue, with what is needed to settle it. */
export interface QueueMessage<T> {
  messageId: string;
  popReceipt: string;
  dequeueCount: number;
  insertedOn: Date;
  body: T;
  /** When the message becomes visible to other receivers unless renewed, in ms since the epoch. */
  leaseUntil: number;
  /** For a held message sent with a delay: when it is due, in ms since the epoch. */
  dueAt?: number;
  blobName?: string;
}

// Azure Queue messages hold 64 KiB; XML encoding of the message text can grow it, so payloads
// past this many bytes go to a blob and the message carries a reference.
const INLINE_LIMIT_BYTES = 32 * 1024;
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 1;
const HELD_DELAY_MARGIN_MS = 2000;

interface BlobReference {
  $blob: string;
}

function isBlobReference(value: unknown): value is BlobReference {
  return typeof value === 'object' && value !== null && typeof (value as BlobReference).$blob === 'string';
}

export interface WorkQueueOptions<T> {
  queue: QueueClient;
  /** Where payloads too large for a message are kept. */
  payloads: ContainerClient;
  /** How long a received or held message stays invisible before it must be renewed. */
  leaseMs: number;
  /** Validates a message body read back from the queue. */
  parse: (value: unknown) => T;
  logger: ComponentLogger;
}

function secondsCeil(ms: number): number {
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(ms / 1000)));
}

function isNotFound(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status === 404;
}

/**
 * An Azure Storage queue used the way Durable Task's Azure Storage provider uses one: messages
 * are leased by visibility timeout, settled by delete, and large payloads live in blobs.
 *
 * A message this process sends to itself can be held: sent already invisible for its lease, and
 * handed straight to the local consumer. If the process dies first, the lease runs out and any
 * receiver picks the message up, so holding saves a receive round trip without risking a loss.
 */
export class WorkQueue<T> {
  readonly name: string;
  readonly leaseMs: number;
  readonly #options: WorkQueueOptions<T>;
  #ensured: Promise<void> | undefined;
  /**
   * Per message, the last operation that may change its pop receipt. Renewing, settling and
   * abandoning each wait for it: a delete sent while a renewal is in flight would carry the old
   * receipt, fail once the renewal lands, and leave the message to run again.
   */
  readonly #inFlight = new WeakMap<QueueMessage<T>, Promise<unknown>>();
  /** Messages completed or abandoned here: no longer ours to renew. */
  readonly #released = new WeakSet<QueueMessage<T>>();

  constructor(options: WorkQueueOptions<T>) {
    this.#options = options;
    this.name = options.queue.name;
    this.leaseMs = options.leaseMs;
  }

  ensure(): Promise<void> {
    this.#ensured ??= (async () => {
      await this.#options.queue.createIfNotExists();
      await this.#options.payloads.createIfNotExists();
    })();
    return this.#ensured;
  }

  /**
   * Sends a message. With `hold`, it is sent invisible for `delayMs` plus one lease and returned
   * for the caller to process and settle; otherwise it becomes visible after `delayMs`.
   */
  async send(body: T, options: { delayMs?: number; hold?: boolean } = {}): Promise<QueueMessage<T>> {
    const delayMs = Math.max(0, options.delayMs ?? 0);
    const json = JSON.stringify(body);
    let text = json;
    let blobName: string | undefined;
    if (Buffer.byteLength(json) > INLINE_LIMIT_BYTES) {
      blobName = `${this.name}/${randomUUID()}.json`;
      await this.#options.payloads.getBlockBlobClient(blobName).upload(json, Buffer.byteLength(json), {
        blobHTTPHeaders: { blobContentType: 'application/json' },
      });
      text = JSON.stringify({ $blob: blobName } satisfies BlobReference);
    }
    // A held message must outlive local processing; a delayed one only needs to outlive the
    // moment it is due (its lease is renewed once it is being processed), so that after a crash
    // a timer fires nearly on time instead of a whole lease late.
    const margin = delayMs > 0 ? Math.min(this.leaseMs, HELD_DELAY_MARGIN_MS) : this.leaseMs;
    const invisibleMs = options.hold ? delayMs + margin : delayMs;
    const sent = await this.#options.queue.sendMessage(text, {
      visibilityTimeout: secondsCeil(invisibleMs),
      messageTimeToLive: -1,
    });
    return {
      messageId: sent.messageId,
      popReceipt: sent.popReceipt,
      dequeueCount: 0,
      insertedOn: sent.insertedOn,
      body,
      leaseUntil: Date.now() + secondsCeil(invisibleMs) * 1000,
      ...(delayMs > 0 ? { dueAt: Date.now() + delayMs } : {}),
      ...(blobName ? { blobName } : {}),
    };
  }

  /** Receives up to `max` visible messages, leasing each. Unreadable messages are logged and removed. */
  async receive(max: number): Promise<QueueMessage<T>[]> {
    if (max <= 0) return [];
    const response = await this.#options.queue.receiveMessages({
      numberOfMessages: Math.min(32, max),
      visibilityTimeout: secondsCeil(this.leaseMs),
    });
    const leaseUntil = Date.now() + secondsCeil(this.leaseMs) * 1000;
    const messages: QueueMessage<T>[] = [];
    for (const item of response.receivedMessageItems) {
      try {
        let value: unknown = JSON.parse(item.messageText);
        let blobName: string | undefined;
        if (isBlobReference(value)) {
          blobName = value.$blob;
          const buffer = await this.#options.payloads.getBlobClient(blobName).downloadToBuffer();
          value = JSON.parse(buffer.toString('utf8'));
        }
        messages.push({
          messageId: item.messageId,
          popReceipt: item.popReceipt,
          dequeueCount: item.dequeueCount,
          insertedOn: item.insertedOn,
          body: this.#options.parse(value),
          leaseUntil,
          ...(blobName ? { blobName } : {}),
        });
      } catch (error) {
        this.#options.logger.error(
          `queue ${this.name}: removing unreadable message ${item.messageId}`,
          error,
        );
        await this.#options.queue.deleteMessage(item.messageId, item.popReceipt).catch(() => undefined);
      }
    }
    return messages;
  }

  /** Runs `operation` on `message` after every earlier one on it has ended. */
  #inTurn<R>(message: QueueMessage<T>, operation: () => Promise<R>): Promise<R> {
    const earlier = this.#inFlight.get(message);
    const next = earlier ? earlier.then(operation, operation) : operation();
    this.#inFlight.set(
      message,
      next.catch(() => undefined),
    );
    return next;
  }

  /** Deletes a settled message (and its payload blob). A message already gone is not an error. */
  async complete(message: QueueMessage<T>): Promise<void> {
    await this.#inTurn(message, async () => {
      this.#released.add(message);
      try {
        await this.#options.queue.deleteMessage(message.messageId, message.popReceipt);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    });
    if (message.blobName) {
      await this.#options.payloads.deleteBlob(message.blobName).catch(() => undefined);
    }
  }

  /** Makes a message visible again after `delayMs` (0: at once), keeping its dequeue count. */
  async abandon(message: QueueMessage<T>, delayMs = 0): Promise<void> {
    await this.#inTurn(message, async () => {
      // A renewal after this would hide the message again for a whole lease.
      this.#released.add(message);
      try {
        const updated = await this.#options.queue.updateMessage(
          message.messageId,
          message.popReceipt,
          undefined,
          secondsCeil(delayMs),
        );
        if (updated.popReceipt) message.popReceipt = updated.popReceipt;
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    });
  }

  /** Up to 32 visible messages, without leasing them. */
  async peek(max = 32): Promise<T[]> {
    const response = await this.#options.queue.peekMessages({
      numberOfMessages: Math.max(1, Math.min(32, max)),
    });
    const bodies: T[] = [];
    for (const item of response.peekedMessageItems) {
      let value: unknown = JSON.parse(item.messageText);
      if (isBlobReference(value)) {
        value = JSON.parse(
          (await this.#options.payloads.getBlobClient(value.$blob).downloadToBuffer()).toString('utf8'),
        );
      }
      bodies.push(this.#options.parse(value));
    }
    return bodies;
  }

  /** The queue's approximate message count (visible and invisible). */
  async count(): Promise<number> {
    return (await this.#options.queue.getProperties()).approximateMessagesCount ?? 0;
  }

  /** Removes every message. */
  async clear(): Promise<void> {
    await this.#options.queue.clearMessages();
  }

  /** Extends a message's lease by a full lease from now, unless it was settled meanwhile. */
  async renew(message: QueueMessage<T>): Promise<void> {
    await this.#inTurn(message, async () => {
      if (this.#released.has(message)) return;
      const updated = await this.#options.queue.updateMessage(
        message.messageId,
        message.popReceipt,
        undefined,
        secondsCeil(this.leaseMs),
      );
      if (updated.popReceipt) message.popReceipt = updated.popReceipt;
      message.leaseUntil = Date.now() + secondsCeil(this.leaseMs) * 1000;
    });
  }
}

/**
 * Keeps the leases of messages a component is holding or processing from running out: once a
 * second it renews every message within half a lease of its expiry.
 */
export class LeaseKeeper {
  readonly #held = new Map<QueueMessage<unknown>, WorkQueue<unknown>>();
  readonly #timer: NodeJS.Timeout;
  readonly #logger: ComponentLogger;
  #renewing = false;

  constructor(logger: ComponentLogger, intervalMs = 1000) {
    this.#logger = logger;
    this.#timer = setInterval(() => void this.#sweep(), intervalMs);
    this.#timer.unref();
  }

  hold<T>(queue: WorkQueue<T>, message: QueueMessage<T>): void {
    this.#held.set(message, queue);
  }

  release(message: QueueMessage<unknown>): void {
    this.#held.delete(message);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#held.clear();
  }

  async #sweep(): Promise<void> {
    if (this.#renewing) return;
    this.#renewing = true;
    try {
      const now = Date.now();
      const due = [...this.#held].filter(([message, queue]) => message.leaseUntil - now < queue.leaseMs / 2);
      await Promise.all(
        due.map(async ([message, queue]) => {
          try {
            await queue.renew(message);
          } catch (error) {
            // The message may have been settled meanwhile; if not, it will be redelivered and
            // the consumer's duplicate checks absorb it.
            if (this.#held.has(message))
              this.#logger.warn(`could not renew a lease on ${queue.name}: ${String(error)}`);
          }
        }),
      );
    } finally {
      this.#renewing = false;
    }
  }
}
