/** Loopback ports for the benchmark's processes: a free one, and waiting until one accepts. */
import net from 'node:net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ports handed out in this process (each once: several are taken before anything binds them). */
const given = new Set<number>();

/**
 * A port free on every address at the time of the call, below the kernel's ephemeral range
 * (32768–60999 by default): a port from that range can be taken as the local port of an outgoing
 * connection (after a max-rate round, thousands are in use or in TIME_WAIT) between this call
 * and the process that binds it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (given.has(port)) continue;
    const s = net.createServer();
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '0.0.0.0', () => r(true));
    });
    if (ok) {
      await new Promise((r) => s.close(r));
      given.add(port);
      return port;
    }
  }
}

/** Resolves once 127.0.0.1:`port` accepts a connection; throws after `ms`. */
export async function waitPort(port: number, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} did not open`);
}
