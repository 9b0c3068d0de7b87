import { createHash } from 'node:crypto';

/**
 * Maps any name (a Service Bus queue, an Event Grid subscription) to a valid Azure Storage queue or
 * container name: 3-63 lower-case letters, digits and single hyphens. Names that had to change get
 * a short hash of the original so two different names never collide.
 */
export function storageName(prefix: string, name: string, suffix = ''): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const room = 63 - prefix.length - suffix.length;
  const needsHash = cleaned !== name.toLowerCase() || cleaned.length > room;
  let base = cleaned;
  if (needsHash) {
    const hash = createHash('sha256').update(name).digest('hex').slice(0, 6);
    base = `${cleaned.slice(0, Math.max(1, room - 7)).replace(/-$/g, '')}-${hash}`;
  }
  const full = `${prefix}${base}${suffix}`.replace(/-+/g, '-');
  return full.length < 3 ? full.padEnd(3, '0') : full;
}

/** A namespace prefix as it can appear in storage names: lower-case alphanumerics and a hyphen. */
export function namespacePrefix(namespace: string | undefined): string {
  const cleaned = (namespace ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');
  return cleaned ? `${cleaned}-` : '';
}

/** Replaces `%Setting%` binding expressions with app settings, as the Functions host does. */
export function resolveAppSettings(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/%([^%]+)%/g, (_, key: string) => {
    const setting = env[key];
    if (setting === undefined) throw new Error(`app setting "${key}" (used as %${key}%) is not set`);
    return setting;
  });
}
