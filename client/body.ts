/**
 * The chunks of a response body (none for a body-less answer), until it ends or `signal` aborts (then it throws the signal's
 * reason and cancels the body, which closes the connection).
 *
 * Each read is raced against the signal rather than left to fetch's own abort: in the fetch of
 * Node 20 (undici 6), an abort that lands after the last bytes arrived but before the body stream
 * closed leaves the stream open for ever, so a reader that waits on fetch alone never returns
 * (nodejs/undici#4089). A stream that ends the moment its reader gives up, as an event stream does
 * at a job's final event, hits that window.
 */
export async function* bodyChunks(
  body: ReadableStream<Uint8Array> | null,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  let stop: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    stop = () => reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop, { once: true });
  });
  // Nobody may be racing it when the signal fires between reads.
  aborted.catch(() => undefined);
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) return;
      yield value;
    }
  } finally {
    if (stop) signal?.removeEventListener('abort', stop);
    // Also when the caller stops early: the connection is let go rather than left half-read.
    reader.cancel().catch(() => undefined);
  }
}
