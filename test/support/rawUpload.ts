import net from 'node:net';

/** What a client sending a whole body saw: the answer's status line, or the error it hit. */
export interface RawUploadResult {
  status: number | undefined;
  error: string | undefined;
  /** Bytes of the body the client had written when it stopped. */
  written: number;
}

/**
 * Sends a request over a plain socket, writing its body in pieces and waiting for each write to
 * be taken, as a client uploading a large file does; then reads the answer. Unlike fetch, this
 * shows whether the server let the client finish sending before it answered and closed.
 */
export async function rawUpload(
  url: string,
  options: { method: string; path: string; bytes: number; chunkBytes?: number },
): Promise<RawUploadResult> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  let error: string | undefined;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', (e: NodeJS.ErrnoException) => {
    error ??= e.code ?? e.message;
  });
  const write = (data: string | Buffer) =>
    new Promise<void>((resolve, reject) => socket.write(data, (e) => (e ? reject(e) : resolve())));
  let written = 0;
  try {
    await write(
      `${options.method} ${options.path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
        `Content-Length: ${options.bytes}\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const chunk = Buffer.alloc(options.chunkBytes ?? 256 * 1024, 7);
    while (written < options.bytes) {
      const piece = chunk.subarray(0, Math.min(chunk.length, options.bytes - written));
      await write(piece);
      written += piece.length;
    }
  } catch (e) {
    error ??= (e as NodeJS.ErrnoException).code ?? String(e);
  }
  if (!error) socket.end();
  await closed;
  const match = /^HTTP\/1\.1 (\d{3})/.exec(received);
  return { status: match ? Number(match[1]) : undefined, error, written };
}
