/**
 * One gateway port: the TLS inspector reads the ClientHello, the SNI picks a chain (several
 * hosts and certificates on one port), and the chain either terminates TLS — SIMPLE, or MUTUAL
 * with a client certificate required — with the certificate of its `kubernetes://<credential>`
 * SDS secret and hands the decrypted connection to its HTTP handler, or passes the TLS bytes
 * through untouched to an upstream (PASSTHROUGH, routed by SNI only). Certificates come from the
 * secret store at each handshake, so a Secret update applies to the next connection with no
 * restart.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { inspectClientHello } from '../security/client-hello';
import type { DownstreamTls } from '../security/tls-context';
import { selectBySni } from './sni';

/** What a chain does with a connection. */
export type GatewayChain =
  | { kind: 'terminate'; name: string; serverNames: string[]; tls: DownstreamTls; onSecure(socket: tls.TLSSocket): void }
  | { kind: 'passthrough'; name: string; serverNames: string[]; upstream(sni: string): { host: string; port: number } | null }
  | { kind: 'plaintext'; name: string; serverNames: string[]; onConnection(socket: net.Socket): void };

/** Counters of a gateway port. */
export interface GatewayPortStats {
  connections: number;
  noChain: number;
  handshakeErrors: number;
  passthrough: number;
}

/** A listening gateway port. */
export class GatewayPort {
  readonly server: net.Server;
  readonly stats: GatewayPortStats = { connections: 0, noChain: 0, handshakeErrors: 0, passthrough: 0 };
  private chains: readonly GatewayChain[];

  constructor(chains: readonly GatewayChain[]) {
    this.chains = chains;
    this.server = net.createServer({ noDelay: true }, (s) => void this.accept(s));
  }

  /** Replaces the chains (new connections use them; open ones are not touched). */
  update(chains: readonly GatewayChain[]): void {
    this.chains = chains;
  }

  /** Listens on `host:port`; resolves the bound port. */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): void {
    this.server.close();
  }

  private async accept(socket: net.Socket): Promise<void> {
    this.stats.connections++;
    socket.on('error', noop);
    const { facts } = await inspectClientHello(socket);
    if (socket.destroyed) return;
    const candidates = this.chains.filter((c) => (facts.transport === 'tls' ? c.kind !== 'plaintext' : c.kind === 'plaintext'));
    const chain = selectBySni(candidates, facts.sni);
    if (!chain) {
      this.stats.noChain++;
      socket.destroy();
      return;
    }
    switch (chain.kind) {
      case 'plaintext':
        chain.onConnection(socket);
        return;
      case 'passthrough': {
        const target = chain.upstream(facts.sni);
        if (!target) {
          this.stats.noChain++;
          socket.destroy();
          return;
        }
        this.stats.passthrough++;
        const up = net.connect({ host: target.host, port: target.port, noDelay: true });
        up.on('error', () => socket.destroy());
        socket.on('close', () => up.destroy());
        up.on('close', () => socket.destroy());
        socket.pipe(up);
        up.pipe(socket);
        return;
      }
      case 'terminate': {
        const s = chain.tls.wrap(socket);
        s.on('error', () => {
          this.stats.handshakeErrors++;
        });
        s.once('secure', () => {
          if (!s.destroyed) chain.onSecure(s);
        });
        return;
      }
    }
  }
}

function noop(): void {}
