/**
 * Transport sockets of clusters and filter chains. Plaintext (`raw_buffer`) is built in; TLS
 * factories are registered by the security layer with {@link registerTransportSocket}, so
 * a pushed `transport_socket` the proxy has no factory for is NACKed with its type.
 */
import type net from 'node:net';
import { unpack } from '@tsmesh/xds';
import { reject } from './errors';

/** Wraps upstream/downstream sockets (TLS, ...). Plaintext when `kind` is 'raw_buffer'. */
export interface TransportSocketFactory {
  readonly kind: string;
  /** Options merged into the upstream connect (`net.connect` / `tls.connect`); null for plaintext. */
  upstreamConnectOptions(): Record<string, unknown> | null;
  /** Wraps an accepted downstream socket; returns it unchanged for plaintext. */
  wrapDownstream?(socket: net.Socket): net.Socket;
  /** The factory for one endpoint (Envoy `transport_socket_matches` on endpoint metadata). */
  forHost?(metadata: Readonly<Record<string, string>>): TransportSocketFactory;
  /** The factories a per-endpoint choice picks from. */
  children?(): TransportSocketFactory[];
}

/** `transport_socket_matches`: the first match whose fields all equal the endpoint's metadata wins, else the cluster's socket. */
class MatchedTransport implements TransportSocketFactory {
  readonly kind: string;
  constructor(private readonly matches: { fields: [string, string][]; factory: TransportSocketFactory }[], private readonly fallback: TransportSocketFactory) {
    this.kind = `matched(${matches.map((m) => m.factory.kind).join(',')}|${fallback.kind})`;
  }
  upstreamConnectOptions(): Record<string, unknown> | null {
    return this.fallback.upstreamConnectOptions();
  }
  forHost(metadata: Readonly<Record<string, string>>): TransportSocketFactory {
    for (const m of this.matches) if (m.fields.every(([k, v]) => metadata[k] === v)) return m.factory;
    return this.fallback;
  }
  children(): TransportSocketFactory[] {
    return [...this.matches.map((m) => m.factory), this.fallback];
  }
}

/** Plaintext. */
export const RAW_BUFFER: TransportSocketFactory = { kind: 'raw_buffer', upstreamConnectOptions: () => null };

type Compiler = (config: Record<string, unknown>, field: string) => TransportSocketFactory;
const registry = new Map<string, Compiler>();

/** Registers a transport socket implementation for a typed_config type URL. */
export function registerTransportSocket(typeUrl: string, compile: Compiler): void {
  registry.set(typeUrl, compile);
}

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Compiles a `transport_socket`, or `transport_socket_matches` over it (Istio auto mTLS: `tlsMode: istio` endpoints get TLS). */
export function transportSocketFor(ts: Dec | null | undefined, matches: Dec[] | undefined, field: string): TransportSocketFactory {
  if (matches?.length) {
    const fallback = transportSocketFor(ts, undefined, field);
    const compiled = matches.map((m, i) => {
      const fieldsOf: [string, string][] = [];
      for (const [k, v] of Object.entries<Dec>(m.match?.fields ?? {})) {
        const sv = v?.stringValue ?? v?.string_value;
        if (typeof sv !== 'string') reject(`transport_socket_matches[${i}].match.fields.${k}`, 'only string values are supported');
        fieldsOf.push([k, sv]);
      }
      return { fields: fieldsOf, factory: transportSocketFor(m.transport_socket, undefined, `transport_socket_matches[${i}].transport_socket`) };
    });
    return new MatchedTransport(compiled, fallback);
  }
  if (!ts || !ts.name) return RAW_BUFFER;
  const url = ts.typed_config?.type_url as string | undefined;
  if (ts.name === 'envoy.transport_sockets.raw_buffer' || url?.endsWith('.RawBuffer')) return RAW_BUFFER;
  const compile = url ? registry.get(url) : undefined;
  if (!compile) reject(field, `transport socket "${ts.name}" (${url ?? 'no typed_config'}) is not supported yet`);
  return compile(unpack(ts.typed_config), field);
}
