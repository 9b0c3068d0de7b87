import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Starts a server listening and returns its port; a port already in use fails with a message that
 * says which port, what it is for, and how to move it.
 */
export async function listen(
  server: http.Server,
  port: number,
  host: string,
  what: string,
  hint: string,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`${what} port ${port} on ${host} is already in use; ${hint}`)
          : error,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
