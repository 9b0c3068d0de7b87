import { createHmac, timingSafeEqual } from 'node:crypto';
import ipaddr from 'ipaddr.js';

/**
 * Webhook signing per the Standard Webhooks specification, and the address rules that keep
 * webhook URLs from reaching inside the deployment (SSRF). Pure: resolving names and connecting
 * are the delivery adapter's, which applies {@link addressProblem} to every address it resolves.
 */

const SECRET_PREFIX = 'whsec_';

/** The signing key of a `whsec_<base64>` secret (the prefix is optional, as receivers accept). */
export function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 16 || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw new Error('a webhook secret is whsec_ followed by at least 16 bytes of base64');
  }
  return key;
}

/** What a delivery signs: its id (stable across retries), its time in seconds, its exact body. */
export interface SignedContent {
  id: string;
  timestamp: number;
  body: string;
}

/** `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`. */
export function signWebhook(secret: string, content: SignedContent): string {
  const mac = createHmac('sha256', signingKey(secret))
    .update(`${content.id}.${content.timestamp}.${content.body}`)
    .digest('base64');
  return `v1,${mac}`;
}

/**
 * Whether a delivery carries a valid signature (any of the space-separated ones, as during a key
 * rotation) and a timestamp within `toleranceSeconds` of now: what a receiver checks.
 */
export function verifyWebhook(
  secret: string,
  content: SignedContent,
  signatureHeader: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  if (
    !Number.isSafeInteger(content.timestamp) ||
    Math.abs(nowSeconds - content.timestamp) > toleranceSeconds
  ) {
    return false;
  }
  const expected = Buffer.from(signWebhook(secret, content).slice('v1,'.length), 'base64');
  return signatureHeader.split(' ').some((entry) => {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) return false;
    const given = Buffer.from(value, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/** Which webhook targets a deployment allows. */
export interface WebhookPolicy {
  /** Plain http (otherwise https only). */
  allowHttp: boolean;
  /** Loopback addresses (the embedded runtime allows them, so it can be tried on one machine). */
  allowLoopback: boolean;
}

// Platform endpoints that sit on ordinary-looking addresses: cloud metadata and Azure's WireServer.
const METADATA = new Set(['169.254.169.254', '168.63.129.16', '100.100.100.200', 'fd00:ec2::254']);

/**
 * Why a webhook may not be delivered to this IP address, or undefined if it may. Only public
 * unicast addresses qualify: loopback (unless allowed), private, link-local, unique-local,
 * multicast, carrier-grade NAT, unspecified, broadcast, reserved and the IPv6 forms that embed an
 * IPv4 address (mapped, NAT64, 6to4, Teredo) are refused, as are cloud metadata endpoints.
 */
export function addressProblem(
  address: string,
  policy: Pick<WebhookPolicy, 'allowLoopback'>,
): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it is.
  const parsed = ipaddr.process(address);
  const normal = parsed.toString();
  if (METADATA.has(normal)) return `${normal} is a cloud metadata or platform endpoint`;
  const range = parsed.range();
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && policy.allowLoopback) return undefined;
  return `${normal} is a ${range} address`;
}

/**
 * Why a webhook URL is refused at subscription time, or undefined. The URL parser normalises
 * decimal, octal and hex IPv4 forms (`2130706433`, `0177.0.0.1`, `0x7f.1`) and bracketed IPv6, so
 * every spelling of an address is judged as that address. Host names are judged again, by the
 * addresses they resolve to, when a delivery is sent.
 */
export function webhookUrlProblem(value: string, policy: WebhookPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return policy.allowHttp ? 'must be an http or https URL' : 'must be an https URL';
  }
  if (url.username || url.password) return 'must not carry credentials';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (ipaddr.isValid(host)) return addressProblem(host, policy);
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return policy.allowLoopback ? undefined : `${host} is a loopback name`;
  }
  if (!host.includes('.')) return `${host} is not a public host name`;
  return undefined;
}
