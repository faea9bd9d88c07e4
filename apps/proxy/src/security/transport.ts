/**
 * Plugs the TLS transport socket into the data path: `transport_socket` of clusters
 * (`UpstreamTlsContext`) and filter chains (`DownstreamTlsContext`) compile into factories that
 * read certificates from a proxy's {@link SecretStore}. The store is the one the config is
 * compiled for ({@link withSecretStore}), else the one given to {@link installTlsTransport}.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { ExtensionTypeUrl } from '@tsmesh/xds';
import { reject } from '../config/errors';
import { registerTransportSocket, type TransportSocketFactory } from '../config/transport';
import { X509Certificate } from 'node:crypto';
import { describePeer, kPeerIdentity, peerIdentityOf, type PeerIdentity } from './peer';
import type { SecretStore } from './secrets';
import { sharedReadBuffer, SocketReads } from '../http1/reads';
import { DownstreamTls, UpstreamTls } from './tls-context';

/**
 * Opens a TLS connection to a host: the connected, verified socket or an error, and `reads` for a
 * socket reading into the shared buffer (`sharedReads`).
 */
export type Connector = (opts: { hostname: string; host?: string; port: string | number; servername?: string; localAddress?: string | null; httpSocket?: net.Socket }, cb: (err: Error | null, socket: net.Socket | null, reads?: SocketReads | null) => void) => void;

/** A TLS factory for a cluster. */
export class UpstreamTlsFactory implements TransportSocketFactory {
  readonly kind = 'tls';
  constructor(readonly tls: UpstreamTls) {}

  /** Options for `tls.connect`: secure context, SNI, ALPN, peer checks. Throws while secrets are missing. */
  upstreamConnectOptions(appProtocols: readonly string[] = []): Record<string, unknown> {
    return this.tls.connectOptions(appProtocols) as Record<string, unknown>;
  }

  /**
   * A connector for the upstream pools: TLS to the endpoint with the current certificate (so a rotated
   * one is used by the next connection), `appProtocols` after the context's ALPN. With
   * `sharedReads` (the HTTP/1.1 pool's codec) decrypted reads go to the shared read buffer
   * (`onread`, http1/reads.ts) and to the {@link SocketReads} handed back with the socket.
   */
  connector(o: { timeoutMs: number; localAddress?: string; appProtocols: readonly string[]; onPeer?: (principal: string) => void; sharedReads?: boolean }): Connector {
    return (opts, cb) => {
      let options: tls.ConnectionOptions;
      try {
        options = this.tls.connectOptions(o.appProtocols);
      } catch (err) {
        cb(err as Error, null);
        return;
      }
      let done = false;
      const reads = o.sharedReads ? new SocketReads() : null;
      const s = tls.connect({ ...options, host: opts.hostname, port: Number(opts.port), ...(o.localAddress ? { localAddress: o.localAddress } : {}), ...(reads !== null ? { onread: { buffer: sharedReadBuffer(), callback: reads.callback } } : {}) });
      if (reads !== null) reads.socket = s;
      s.setNoDelay(true);
      const timer = setTimeout(() => s.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), o.timeoutMs);
      const finish = (err: Error | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        s.removeListener('error', finish);
        if (err) {
          s.destroy();
          cb(Object.assign(err, { code: (err as { code?: string }).code ?? 'ECONNREFUSED' }), null);
          return;
        }
        if (o.onPeer) o.onPeer(peerIdentityOf(s)?.principal ?? '');
        cb(null, s, reads);
      };
      s.once('error', finish);
      s.once('secureConnect', () => {
        const raw = s.getPeerCertificate().raw;
        (s as unknown as { [kPeerIdentity]: PeerIdentity })[kPeerIdentity] = describePeer(s, raw ? new X509Certificate(raw) : undefined);
        finish(null);
      });
    };
  }

  /** Connects a TCP proxy's upstream over TLS; resolves once checked. */
  connect(host: string, port: number, appProtocols: readonly string[] = []): Promise<tls.TLSSocket> {
    return this.tls.connect({ host, port, appProtocols });
  }

  /** SDS secrets needed. */
  secretNames(): string[] {
    return this.tls.secretNames();
  }
}

/** A TLS factory for a filter chain. */
export class DownstreamTlsFactory implements TransportSocketFactory {
  readonly kind = 'tls';
  constructor(readonly tls: DownstreamTls) {}

  upstreamConnectOptions(): null {
    return null;
  }

  /** Terminates TLS on the accepted socket (see DownstreamTls.wrap). */
  wrapDownstream(socket: net.Socket): tls.TLSSocket {
    return this.tls.wrap(socket);
  }

  secretNames(): string[] {
    return this.tls.secretNames();
  }
}

let installed: SecretStore | null = null;
let compiling: SecretStore | null = null;
let registered = false;

function storeFor(field: string): SecretStore {
  const s = compiling ?? installed;
  if (!s) return reject(field, 'TLS needs a secret store (none configured)');
  return s;
}

function register(): void {
  if (registered) return;
  registered = true;
  registerTransportSocket(ExtensionTypeUrl.UpstreamTlsContext, (cfg, field) => new UpstreamTlsFactory(new UpstreamTls(storeFor(field), cfg, `${field}.typed_config`)));
  registerTransportSocket(ExtensionTypeUrl.DownstreamTlsContext, (cfg, field) => new DownstreamTlsFactory(new DownstreamTls(storeFor(field), cfg, `${field}.typed_config`)));
}

/** Registers the TLS transport sockets with a process-wide default store. */
export function installTlsTransport(store: SecretStore): void {
  installed = store;
  register();
}

/** Runs `fn` (a synchronous config compile) with `store` as the store TLS contexts read. */
export function withSecretStore<T>(store: SecretStore, fn: () => T): T {
  register();
  const prev = compiling;
  compiling = store;
  try {
    return fn();
  } finally {
    compiling = prev;
  }
}

/** The SDS secret names a compiled transport socket needs ([] for plaintext). */
export function secretsOf(f: TransportSocketFactory): string[] {
  if (f.children) return f.children().flatMap(secretsOf);
  return f instanceof UpstreamTlsFactory || f instanceof DownstreamTlsFactory ? f.secretNames() : [];
}
