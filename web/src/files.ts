import { client } from './api.js';

/** Hands `blob` to the browser as a download named `name`. */
export function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** `12.4 MiB`. */
export const size = (bytes: number): string =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 ** 2
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : bytes < 1024 ** 3
        ? `${(bytes / 1024 ** 2).toFixed(1)} MiB`
        : `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

const BLOCK = 8 * 1024 * 1024;
const AT_ONCE = 4;

/**
 * Sends a file the user picked to their files at `path`, straight to storage through a per-blob
 * upload URL (the bytes never pass through the service): in one request when small, else in
 * blocks of 8 MiB, four at a time, committed as one list at the end so the file appears whole.
 * `progress` is told the bytes sent so far.
 */
export async function uploadFile(file: File, path: string, progress: (sent: number) => void): Promise<void> {
  const target = await client.files.uploadUrl(path);
  const type = file.type || 'application/octet-stream';
  const put = async (url: string, body: BodyInit, headers: Record<string, string>) => {
    const response = await fetch(url, { method: 'PUT', headers, body });
    if (!response.ok) {
      const detail = (await response.text()).match(/<Message>([^<]*)/)?.[1] ?? response.statusText;
      throw new Error(`storage refused the upload (HTTP ${response.status}): ${detail}`);
    }
  };
  if (file.size <= BLOCK) {
    await put(target.url, file, { ...target.headers, 'x-ms-blob-content-type': type });
    progress(file.size);
    return;
  }
  const count = Math.ceil(file.size / BLOCK);
  // Block ids must all be the same length: the block's number, padded.
  const ids = Array.from({ length: count }, (_, i) => btoa(`block-${String(i).padStart(6, '0')}`));
  let sent = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const part = file.slice(i * BLOCK, Math.min(file.size, (i + 1) * BLOCK));
      await put(`${target.url}&comp=block&blockid=${encodeURIComponent(ids[i]!)}`, part, {});
      sent += part.size;
      progress(sent);
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
  await put(`${target.url}&comp=blocklist`, list, {
    'content-type': 'application/xml',
    'x-ms-blob-content-type': type,
  });
}
