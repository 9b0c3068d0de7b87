import type { AttemptOutcome } from '../domain/notifications.js';

/** What one attempt to send came to. */
export interface SendResult {
  outcome: AttemptOutcome;
  durationMs: number;
  /** The endpoint's HTTP status or the SMTP server's reply code. */
  statusCode?: number;
  /** Why there is no acceptable answer: a refused address, a timeout, a connection error. */
  error?: string;
}

/** A signed webhook request, ready to post. */
export interface WebhookRequest {
  url: string;
  /** `webhook-id`: the same on every attempt of one delivery. */
  id: string;
  /** `webhook-timestamp`, in seconds. */
  timestamp: number;
  /** `webhook-signature`. */
  signature: string;
  body: string;
  contentType: string;
}

/** Posts webhooks; never throws for what the endpoint or the network does, only reports it. */
export interface WebhookSender {
  post(request: WebhookRequest): Promise<SendResult>;
}

/** An email to send. */
export interface EmailRequest {
  to: string;
  subject: string;
  text: string;
  /** Stable across attempts, so a receiving system can drop a duplicate. */
  messageId: string;
}

/** Sends email; reports (rather than throws) what the mail server says. */
export interface EmailSender {
  send(request: EmailRequest): Promise<SendResult>;
}
