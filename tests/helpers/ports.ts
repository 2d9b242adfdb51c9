import net from 'node:net';

/**
 * A port free on 127.0.0.1 right now. Handlers read the S3 endpoint once per process (like a Lambda
 * cold start), so several local workflows in one process must share one port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
