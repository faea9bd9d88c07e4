/**
 * Plugs the TLS transport socket into the data path: `transport_socket` of clusters
 * (`UpstreamTlsContext`) and filter chains (`DownstreamTlsContext`) compile into factories that
 * read certificates from the proxy's {@link SecretStore}. Call {@link installTlsTransport} once at
 * start with the store the agent and SDS fill.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { ExtensionTypeUrl } from '@tsmesh/xds';
import { registerTransportSocket, type TransportSocketFactory } from '../config/transport';
import type { SecretStore } from './secrets';
import { DownstreamTls, UpstreamTls } from './tls-context';

/** A TLS factory for a cluster. */
export class UpstreamTlsFactory implements TransportSocketFactory {
  readonly kind = 'tls';
  constructor(readonly tls: UpstreamTls) {}

  /** Options for undici's / net's connect: secure context, SNI, ALPN, peer checks. Throws while secrets are missing. */
  upstreamConnectOptions(appProtocols: readonly string[] = []): Record<string, unknown> {
    return this.tls.connectOptions(appProtocols) as Record<string, unknown>;
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

/** Registers the TLS transport sockets, reading secrets from `store`. Later calls replace the store. */
export function installTlsTransport(store: SecretStore): void {
  const first = installed === null;
  installed = store;
  if (!first) return;
  registerTransportSocket(ExtensionTypeUrl.UpstreamTlsContext, (cfg, field) => new UpstreamTlsFactory(new UpstreamTls(installed!, cfg, `${field}.typed_config`)));
  registerTransportSocket(ExtensionTypeUrl.DownstreamTlsContext, (cfg, field) => new DownstreamTlsFactory(new DownstreamTls(installed!, cfg, `${field}.typed_config`)));
}

/** The SDS secret names a compiled transport socket needs ([] for plaintext). */
export function secretsOf(f: TransportSocketFactory): string[] {
  return f instanceof UpstreamTlsFactory || f instanceof DownstreamTlsFactory ? f.secretNames() : [];
}
