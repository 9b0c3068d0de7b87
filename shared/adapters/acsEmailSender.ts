import {
  EmailClient,
  type EmailClientOptions,
  type EmailMessage,
  type EmailSendOptionalParams,
} from '@azure/communication-email';
import type { TokenCredential } from '@azure/identity';
import type { EmailRequest, EmailSender, SendResult } from '../notifications/senders.js';

/** How to reach the Azure Communication Services resource, and how long one attempt may take. */
export type AcsEmailSenderOptions = (
  | {
      /** `endpoint=https://…;accesskey=…`: every request is signed with the access key (HMAC-SHA256). */
      connectionString: string;
    }
  | {
      /** The resource's URL; every request carries a Microsoft Entra token from `credential`. */
      endpoint: string;
      credential: TokenCredential;
    }
) & {
  /** The sender: an address of a domain connected to the resource, without a display name. */
  from: string;
  /** Bounds the whole attempt: the send, the SDK's retries and the polling for its outcome. */
  timeoutMs: number;
  /** Wait between status polls when the service names none (its `Retry-After` wins); 2 s if unset. */
  pollIntervalMs?: number;
  /** Lets the client speak plain http, to a local stand-in for the service in tests; never on Azure. */
  allowInsecureConnection?: boolean;
};

/**
 * Carries our delivery's message id, the same on every attempt. `Message-ID` itself cannot carry
 * it: ACS documents that it keeps a caller's internet message id only when it finds it well formed
 * and not used before, and otherwise silently puts its own in place, so a retry would reach the
 * recipient under a new `Message-ID` whatever we sent (nor does it say under which key it reads
 * one). A custom `x-` header travels with the email as given, as in the documentation's examples.
 */
export const ACS_MESSAGE_ID_HEADER = 'x-cloudjobs-message-id';

/**
 * The SDK's default is three retries with waits growing to 64 s, far past an attempt's timeout;
 * the notifier has its own schedule for longer outages. A couple of quick retries still pay for
 * themselves, mostly on the status polls: giving up on a poll after the service has accepted the
 * email makes the notifier send it again. A `Retry-After` on a 429 or 503 is waited out as the
 * service asks, but never past the attempt's timeout, which aborts the wait.
 */
const RETRY_OPTIONS = { maxRetries: 2, retryDelayInMs: 250, maxRetryDelayInMs: 1_000 };

/** What the service says about a send operation: the send's answer and every status poll's. */
interface OperationBody {
  id?: string;
  status?: string;
  error?: { code?: string; message?: string };
}

/**
 * Email through the Azure Communication Services email API (`@azure/communication-email`), instead
 * of SMTP. An email is delivered once the service has accepted it (202) and its operation has not
 * ended `Failed` by the end of the attempt (ended `Succeeded`, or still running when the attempt's
 * time is up); everything else, a refusal, a failed operation, a network error or no answer within
 * the attempt's timeout, is a failed attempt with the reason, for the notifier to retry.
 */
export class AcsEmailSender implements EmailSender {
  readonly #client: EmailClient;
  readonly #from: string;
  readonly #timeoutMs: number;
  readonly #pollIntervalMs: number | undefined;

  constructor(options: AcsEmailSenderOptions) {
    const clientOptions: EmailClientOptions = {
      retryOptions: RETRY_OPTIONS,
      ...(options.allowInsecureConnection ? { allowInsecureConnection: true } : {}),
    };
    this.#client =
      'connectionString' in options
        ? new EmailClient(options.connectionString, clientOptions)
        : new EmailClient(options.endpoint, options.credential, clientOptions);
    this.#from = options.from;
    this.#timeoutMs = options.timeoutMs;
    this.#pollIntervalMs = options.pollIntervalMs;
  }

  /**
   * Sends one email and waits for the service's outcome. `statusCode` is always the HTTP status
   * the service answered the send request with: 202 once it accepted the email (then `outcome`
   * and `error` tell how the operation ended), or its refusal (400, 401, 429, …). Never throws.
   */
  async send(email: EmailRequest): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let sendStatus: number | undefined;
    let operation: OperationBody | undefined;
    const options: EmailSendOptionalParams = {
      abortSignal: signal,
      ...(this.#pollIntervalMs !== undefined ? { updateIntervalInMs: this.#pollIntervalMs } : {}),
      onResponse: (response) => {
        if (response.request.method === 'POST') sendStatus = response.status;
        const body = response.parsedBody as OperationBody | undefined;
        // Error answers carry no operation: keep the last one seen.
        if (typeof body?.status === 'string') operation = body;
      },
    };
    const message: EmailMessage = {
      senderAddress: this.#from,
      recipients: { to: [{ address: email.to }] },
      content: { subject: email.subject, plainText: email.text },
      headers: { [ACS_MESSAGE_ID_HEADER]: email.messageId },
    };
    try {
      const poller = await this.#client.beginSend(message, options);
      const result = await poller.pollUntilDone({ abortSignal: signal });
      if (result.status === 'Succeeded') {
        return { outcome: 'delivered', statusCode: sendStatus ?? 202, durationMs: elapsed() };
      }
      return {
        outcome: 'failed',
        ...(sendStatus !== undefined ? { statusCode: sendStatus } : {}),
        error: `the operation ended ${result.status}`,
        durationMs: elapsed(),
      };
    } catch (error) {
      // Accepted and not failed by the time the attempt ends: the service has the email, as an SMTP
      // server that answered 250 has it. Sending it again would likely reach the recipient twice.
      if (signal.aborted && sendStatus !== undefined && sendStatus < 300 && operation?.status !== 'Failed') {
        return { outcome: 'delivered', statusCode: sendStatus, durationMs: elapsed() };
      }
      const refusal = error instanceof Object ? (error as { statusCode?: unknown }).statusCode : undefined;
      const statusCode = sendStatus ?? (typeof refusal === 'number' ? refusal : undefined);
      return {
        // A refusal (4xx: a bad address, an unverified sender) will not change on a retry, but a
        // setting may be fixed meanwhile; the schedule decides, as for SMTP and webhooks.
        outcome: 'failed',
        ...(statusCode !== undefined ? { statusCode } : {}),
        error: describe(error, {
          timedOut: signal.aborted,
          timeoutMs: this.#timeoutMs,
          // The SDK reports error answers to `onResponse` too: only a 2xx is an acceptance.
          accepted: sendStatus !== undefined && sendStatus < 300,
          operation,
        }).slice(0, 500),
        durationMs: elapsed(),
      };
    }
  }
}

function describe(
  error: unknown,
  context: { timedOut: boolean; timeoutMs: number; accepted: boolean; operation: OperationBody | undefined },
): string {
  const { operation } = context;
  // Said outright, as a retry of an email the service has accepted may reach the recipient twice.
  const accepted = context.accepted ? `accepted (operation ${operation?.id ?? 'unknown'}), then ` : '';
  // No answer at all, or the SDK still waiting to retry a 429 or 5xx: the same to the notifier.
  if (context.timedOut) return `no outcome within ${context.timeoutMs} ms`;
  // A failed operation's own code and message, rather than the poller's paraphrase of them.
  if (operation?.status === 'Failed' || operation?.status === 'Canceled') {
    const reason = [operation.error?.code, operation.error?.message].filter(Boolean).join(': ');
    return `${accepted}the operation ended ${operation.status}${reason ? `: ${reason}` : ''}`;
  }
  if (!(error instanceof Error)) return `${accepted}${String(error)}`;
  const code = (error as { code?: unknown }).code;
  return `${accepted}${typeof code === 'string' ? `${code}: ` : ''}${error.message}`;
}
