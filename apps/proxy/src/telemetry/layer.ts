/**
 * Telemetry as the outermost HTTP layer of a connection manager: for each request it exchanges
 * workload metadata with the peer (Istio's `x-envoy-peer-metadata` headers: sent upstream on the
 * outbound side, read and stripped on the inbound side, answered in the response), starts the
 * side's span and propagates its context, and when the response is done records Istio's metrics,
 * ends the span and writes the access-log line. No closure is made per request: the exchange
 * hangs on its response object and one module function handles `close`.
 */
import type { Span } from '@opentelemetry/api';
import type { Exchange } from '../http/exchange';
import { formatResponseFlags, RF } from '../http/response-flags';
import type { HttpHandler, Layer } from '../http/filters';
import { requestSocket } from '../authz/layer';
import { withoutPeerMetadata } from '../http/header-copy';
import { peerIdentityOf } from '../security/peer';
import type { AccessLogger } from './access-log';
import type { RequestLabelBase, TelemetryRecorder } from './recorder';
import type { ProxyTracer } from './tracing';
import { decodePeerMetadata, encodePeerMetadata, PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, type WorkloadInfo } from './workload';

/** What the telemetry layer needs. */
export interface TelemetryDeps {
  recorder: TelemetryRecorder;
  tracer: ProxyTracer | null;
  accessLog: AccessLogger | null;
  /** The proxy's node id (sent as `x-envoy-peer-metadata-id`). */
  nodeId: string;
}

/** Per-request telemetry state, kept on the exchange (`ex.telemetry`). */
export class RequestTelemetry {
  span: Span | null = null;
  peer: WorkloadInfo | null = null;
  peerPrincipal = '';
  startTime = Date.now();
  recorded = false;
  constructor(readonly filter: TelemetryFilter, readonly ex: Exchange) {}
}

/**
 * Records what the upstream's response says about its workload (outbound side), reading the
 * upstream response headers only: the caller leaves both peer metadata headers out of the copy it
 * sends downstream (`withoutResponseHopByHop`), so no header object is turned into a slower
 * dictionary-mode one by a `delete` on every response.
 */
export function peerFromUpstreamResponse(ex: Exchange, headers: Readonly<Record<string, string | string[] | undefined>>): void {
  const st = ex.telemetry;
  const v = headers[PEER_METADATA_HEADER];
  if (v !== undefined && st) st.peer = decodePeerMetadata(typeof v === 'string' ? v : v[0]);
}


/** Records the upstream connection's verified peer (outbound mTLS). */
export function onUpstreamPeer(ex: Exchange, principal: string): void {
  const st = ex.telemetry;
  if (st) st.peerPrincipal = principal;
}

function hostOfCluster(name: string): string {
  // outbound|<port>|<subset>|<host>
  const parts = name.split('|');
  return parts.length === 4 ? parts[3] : '';
}

function one(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(',') : v;
}

/** The telemetry filter. */
export class TelemetryFilter implements HttpHandler {
  private readonly metadataValue: string;
  /** Inbound authority → destination service host, bounded. */
  private readonly inboundHosts = new Map<string, string>();
  /** Cluster name → its service host (`outbound|<port>|<subset>|<host>`), bounded. */
  private readonly clusterHosts = new Map<string, string>();
  /** Destination service → the metric label handle of its last peer. */
  private readonly bases = new Map<string, RequestLabelBase>();

  constructor(private readonly next: HttpHandler, private readonly deps: TelemetryDeps, readonly side: 'inbound' | 'outbound') {
    this.metadataValue = encodePeerMetadata(deps.recorder.self);
  }

  handle(ex: Exchange): void {
    const st = new RequestTelemetry(this, ex);
    // recorded when the response closes (Exchange.onResponseClose)
    ex.telemetry = st;
    let h = ex.headers;
    if (this.side === 'inbound') {
      const v = h[PEER_METADATA_HEADER];
      if (v !== undefined) {
        st.peer = decodePeerMetadata(typeof v === 'string' ? v : v[0]);
        // taken off for every filter after this one and the app: a copy without them rather than
        // deletes (which would turn the request's header object into a slower dictionary-mode one)
        h = withoutPeerMetadata(h) as typeof h;
        ex.headers = h;
      }
      const peer = peerIdentityOf(requestSocket(ex));
      if (peer) st.peerPrincipal = peer.principal;
      if (!ex.res.headersSent) {
        ex.res.setHeader(PEER_METADATA_HEADER, this.metadataValue);
        ex.res.setHeader(PEER_METADATA_ID_HEADER, this.deps.nodeId);
      }
    } else {
      h[PEER_METADATA_HEADER] = this.metadataValue;
      h[PEER_METADATA_ID_HEADER] = this.deps.nodeId;
    }
    if (this.deps.tracer) {
      const name = `${ex.authority}${ex.path}`;
      st.span = this.deps.tracer.start(this.side, name, h, h, { 'http.request.method': ex.method, 'url.path': ex.path, 'server.address': ex.authority });
    }
    this.next.handle(ex);
  }

  /** @internal Records a finished request. */
  complete(st: RequestTelemetry): void {
    st.recorded = true;
    const ex = st.ex;
    const status = ex.status || (ex.res.headersSent ? ex.res.statusCode : 0);
    const durationMs = performance.now() - ex.startedAt;
    const clusterName = ex.cluster?.spec.name ?? '';
    const destinationService = (this.side === 'outbound' ? this.clusterHost(clusterName) : '') || this.inboundService(ex);
    const mtls = this.side === 'inbound' ? st.peerPrincipal !== '' || peerIdentityOf(requestSocket(ex)) !== null : st.peerPrincipal !== '';
    const flagBits = ex.flags | (status === 0 ? RF.DownstreamConnectionTermination : 0);
    const flags = formatResponseFlags(flagBits);
    // body bytes as they went through (chunked, no content-length, HTTP/2 alike), not content-length
    const requestBytes = ex.requestBodyBytes();
    const responseBytes = ex.responseBytes;
    // the label handle of this destination, kept while the peer it was made for stays the same
    let base = this.bases.get(destinationService);
    if (base === undefined || base.peer !== st.peer || base.peerPrincipal !== st.peerPrincipal || base.mtls !== mtls) {
      base = this.deps.recorder.requestBase(this.side, st.peer, st.peerPrincipal, destinationService, mtls);
      if (this.bases.size >= 1024) this.bases.clear();
      this.bases.set(destinationService, base);
    }
    this.deps.recorder.record(base, ex.isGrpc, status, ex.isGrpc ? ex.grpcStatus : -1, flagBits, flags, durationMs, requestBytes, responseBytes);
    if (st.span) this.deps.tracer!.end(st.span, status, { 'istio.canonical_service': this.deps.recorder.self.canonicalService });
    if (this.deps.accessLog?.enabled) {
      const c = ex.conn;
      const host = ex.attempt?.host;
      this.deps.accessLog.log({
        startTime: st.startTime, method: ex.method, path: one(ex.headers['x-envoy-original-path']) ?? (ex.query ? `${ex.path}?${ex.query}` : ex.path),
        protocol: ex.http2 ? 'HTTP/2' : 'HTTP/1.1', responseCode: status, responseFlags: flags, responseCodeDetails: null, connectionTerminationDetails: null,
        upstreamTransportFailureReason: null, bytesReceived: requestBytes, bytesSent: responseBytes, durationMs, upstreamServiceTimeMs: null,
        xForwardedFor: one(ex.headers['x-forwarded-for']), userAgent: one(ex.headers['user-agent']), requestId: one(ex.headers['x-request-id']) ?? one(ex.upstreamHeaders?.['x-request-id']),
        authority: ex.authority || null, upstreamHost: host ? `${host.address}:${host.port}` : null, upstreamCluster: clusterName || null, upstreamLocalAddress: null,
        downstreamLocalAddress: c.dstIp ? `${c.dstIp}:${c.dstPort}` : null, downstreamRemoteAddress: c.srcIp ? `${c.srcIp}:${c.srcPort}` : null,
        requestedServerName: peerIdentityOf(requestSocket(ex))?.sni || null, routeName: ex.route?.name || null,
      });
    }
  }

  private clusterHost(name: string): string {
    let h = this.clusterHosts.get(name);
    if (h === undefined) {
      h = hostOfCluster(name);
      if (this.clusterHosts.size >= 4096) this.clusterHosts.clear();
      this.clusterHosts.set(name, h);
    }
    return h;
  }

  private inboundService(ex: Exchange): string {
    const known = this.inboundHosts.get(ex.authority);
    if (known !== undefined) return known;
    const host = inboundServiceHost(ex.authority, this.deps.recorder.self.namespace);
    if (this.inboundHosts.size >= 256) this.inboundHosts.clear();
    this.inboundHosts.set(ex.authority, host);
    return host;
  }
}

/**
 * The destination service of an inbound request, from its authority as the caller wrote it: a
 * cluster FQDN is kept; `name`, `name.ns` and `name.ns.svc` are the Kubernetes search path's short
 * forms (resolved in the receiving workload's namespace for a bare name) and are completed to
 * `<name>.<ns>.svc.cluster.local`; anything else (an IP, an external host) is not a service: ''.
 */
export function inboundServiceHost(authority: string, namespace: string): string {
  const colon = authority.lastIndexOf(':');
  const host = (colon > 0 && !authority.endsWith(']') ? authority.slice(0, colon) : authority).toLowerCase();
  if (host === '' || host.startsWith('[')) return '';
  if (host.includes('.svc.') || host.endsWith('.svc')) return host.endsWith('.svc') ? `${host}.cluster.local` : host;
  const dots = host.split('.').length - 1;
  if (dots === 0) return namespace && host !== 'localhost' && /^[a-z]/.test(host) ? `${host}.${namespace}.svc.cluster.local` : '';
  if (dots === 1 && /^[a-z][-a-z0-9]*\.[a-z][-a-z0-9]*$/.test(host)) return `${host}.svc.cluster.local`;
  return '';
}

/** The telemetry layer for one side. */
export function telemetryLayer(deps: TelemetryDeps, side: 'inbound' | 'outbound'): Layer {
  return (next) => new TelemetryFilter(next, deps, side);
}
