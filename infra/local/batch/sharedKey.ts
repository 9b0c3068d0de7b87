import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const STANDARD_HEADERS = [
  'content-encoding',
  'content-language',
  'content-length',
  'content-md5',
  'content-type',
  'date',
  'if-modified-since',
  'if-match',
  'if-none-match',
  'if-unmodified-since',
  'range',
];

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
}

/**
 * The string a Batch client signs for a request (the Batch shared key scheme: verb, standard
 * headers, `ocp-` headers, then `/account/path` and the sorted, decoded query).
 */
export function stringToSign(
  method: string,
  rawUrl: string,
  headers: IncomingHttpHeaders,
  bodyLength: number,
  account: string,
): string {
  const [path = '/', query = ''] = rawUrl.split('?', 2);
  // Clients sign the body's length, "0" for a POST without one, and nothing otherwise.
  const contentLength = bodyLength > 0 ? String(bodyLength) : method === 'POST' ? '0' : '';
  let text = `${method}\n`;
  for (const name of STANDARD_HEADERS) {
    text += `${name === 'content-length' ? contentLength : header(headers, name)}\n`;
  }
  const ocp = Object.keys(headers)
    .filter((name) => name.startsWith('ocp-'))
    .sort();
  for (const name of ocp) {
    const value = header(headers, name);
    if (value) text += `${name}:${value}\n`;
  }
  text += `/${account}${path}`;
  const params = new URLSearchParams(query);
  const names = [...new Set(params.keys())].sort();
  for (const name of names) text += `\n${name}:${params.getAll(name).join(',')}`;
  return text;
}

/** Checks a request's `Authorization: SharedKey account:signature` against the account key. */
export function verifySharedKey(
  method: string,
  rawUrl: string,
  headers: IncomingHttpHeaders,
  bodyLength: number,
  account: string,
  key: string,
): { ok: true } | { ok: false; reason: string } {
  const authorization = header(headers, 'authorization');
  const match = /^SharedKey ([^:]+):(.+)$/.exec(authorization);
  if (!match) return { ok: false, reason: 'the request has no SharedKey Authorization header' };
  if (match[1] !== account) return { ok: false, reason: `unknown account "${match[1]}"` };
  const expected = createHmac('sha256', Buffer.from(key, 'base64'))
    .update(stringToSign(method, rawUrl, headers, bodyLength, account), 'utf8')
    .digest();
  const given = Buffer.from(match[2]!, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'the signature does not match' };
  }
  return { ok: true };
}
