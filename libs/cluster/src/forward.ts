/** Loopback TCP forwarding and port checks, for reaching pods from this machine. */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP forwarder from a loopback port to an address this machine reaches (a pod IP). */
export class Forward {
  private constructor(readonly server: Server, readonly port: number, private readonly sockets: Set<Socket>) {}

  /** Listens on 127.0.0.1:`preferred` (another port when it is taken, or when 0) and pipes each connection to `target`. */
  static async open(target: { host: string; port: number }, preferred = 0): Promise<Forward> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(target);
      sockets.add(client).add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.pipe(upstream).pipe(client);
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
    });
    const listen = (port: number) =>
      new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', rej);
          res();
        });
      });
    try {
      await listen(preferred);
    } catch (err) {
      if (!preferred) throw err;
      await listen(0);
    }
    return new Forward(server, (server.address() as { port: number }).port, sockets);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

/** Whether a loopback port (or a port of `host`) is free now (false only when something listens on it). */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => res(err.code !== 'EADDRINUSE'));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

/** A loopback port (or a port of `host`) nothing listens on now. */
export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, host, res));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}
