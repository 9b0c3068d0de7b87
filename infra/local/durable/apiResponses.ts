import type { InternalResponse } from '../http/httpServer.js';

/** A JSON answer. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): InternalResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
  };
}

/** An error answer in the extension's shape. */
export function message(status: number, text: string): InternalResponse {
  return json(status, { Message: text });
}

/** JSON text as a value; text that is not JSON as itself. */
export function parseText(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A boolean query parameter. */
export function flag(url: URL, name: string, fallback: boolean): boolean {
  const value = url.searchParams.get(name);
  return value === null ? fallback : value.toLowerCase() === 'true';
}
