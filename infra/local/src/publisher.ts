/**
 * Publishes one Service's ports on the host, as a LoadBalancer or NodePort would: a TCP forwarder
 * on 127.0.0.1 per Service port (a fixed port from `hostPorts`, else an ephemeral one) to the
 * Service's VIP, so the gateway is reachable from the machine.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { keyOf, type ServiceObject } from './kube';
import type { ObjectStore } from './store';

/** Forwards loopback ports to a Service's VIP. */
export class HostPortPublisher {
  private readonly forwarders = new Map<number, { server: Server; port: number; sockets: Set<Socket> }>();
  private readonly cancel: () => void;

  constructor(store: ObjectStore, readonly service: string, private readonly hostPorts: Record<number, number>, private readonly log: (line: string) => void) {
    this.cancel = store.watch('Service', (e) => {
      const s = e.object as ServiceObject;
      if (e.type === 'DELETED' || keyOf(s) !== service) return;
      for (const sp of s.spec.ports ?? []) this.publish(s, sp.port).catch((err: Error) => this.log(`could not publish ${service}:${sp.port} on 127.0.0.1: ${err.message}`));
    });
  }

  private async publish(s: ServiceObject, port: number): Promise<number> {
    const existing = this.forwarders.get(port);
    if (existing) return existing.port;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect({ host: s.spec.clusterIP!, port });
      sockets.add(client);
      sockets.add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
    });
    const entry = { server, port: 0, sockets };
    this.forwarders.set(port, entry);
    try {
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(this.hostPorts[port] ?? 0, '127.0.0.1', () => res());
      });
    } catch (err) {
      this.forwarders.delete(port);
      throw err;
    }
    entry.port = (server.address() as { port: number }).port;
    this.log(`published ${keyOf(s)}:${port} on 127.0.0.1:${entry.port}`);
    return entry.port;
  }

  /** The loopback port of the Service's `servicePort`. */
  hostPort(servicePort: number): number {
    const f = this.forwarders.get(servicePort);
    if (!f || !f.port) throw new Error(`service port ${servicePort} is not published (is ${this.service} applied?)`);
    return f.port;
  }

  /** Closes every forwarder and its connections. */
  stop(): void {
    this.cancel();
    for (const f of this.forwarders.values()) {
      for (const s of f.sockets) s.destroy();
      f.server.close();
    }
    this.forwarders.clear();
  }
}
