/**
 * Istio's standard metrics recorded per request and per TCP connection, with Istio's labels:
 * `reporter` is `source` on the client side (outbound) and `destination` on the server side
 * (inbound); the local workload fills one side of the labels, the peer's exchanged metadata and
 * certificate the other. Label sets are resolved once per distinct combination and cached, so
 * recording a request on a cached label handle ({@link RequestLabelBase}) is one numeric map
 * lookup and four adds.
 */
import { registerIstioMetrics, requestLabelValues, tcpLabelValues, type CounterChild, type HistogramChild, type IstioLabels, type IstioMetrics } from '@tsmesh/telemetry/metrics';
import type { Registry } from '@tsmesh/telemetry/metrics';
import type { WorkloadInfo } from './workload';

/** What one finished request contributes. */
export interface RequestFacts {
  /** 'outbound' (reporter=source) or 'inbound' (reporter=destination). */
  side: 'inbound' | 'outbound';
  /** The other workload (from exchanged metadata), or null. */
  peer: WorkloadInfo | null;
  /** The other side's SPIFFE ID from its certificate ('' for plaintext). */
  peerPrincipal: string;
  /** Destination service FQDN (`callme.shop.svc.cluster.local`), '' when unknown. */
  destinationService: string;
  /** 'http' or 'grpc'. */
  protocol: string;
  responseCode: number;
  /** gRPC status ('' when not gRPC). */
  grpcStatus: string;
  /** Envoy response flags ('-' when none). */
  responseFlags: string;
  /** The connection was mutual TLS. */
  mtls: boolean;
  durationMs: number;
  requestBytes: number;
  responseBytes: number;
}

/** What one TCP connection contributes. */
export interface TcpFacts {
  side: 'inbound' | 'outbound';
  peer: WorkloadInfo | null;
  peerPrincipal: string;
  destinationService: string;
  responseFlags: string;
  mtls: boolean;
}

/** The four metric children of one label set. */
class RequestChildren {
  constructor(readonly total: CounterChild, readonly duration: HistogramChild, readonly reqBytes: HistogramChild, readonly respBytes: HistogramChild) {}
  add(durationMs: number, requestBytes: number, responseBytes: number): void {
    this.total.inc();
    this.duration.observe(durationMs);
    this.reqBytes.observe(requestBytes);
    this.respBytes.observe(responseBytes);
  }
}

/** A cached handle on the labels requests share apart from their outcome ({@link TelemetryRecorder.requestBase}). */
export class RequestLabelBase {
  /** Metric children by outcome number. */
  readonly byOutcome = new Map<number, RequestChildren>();
  /** Metric children by outcome text (protocol|code|grpc|flags). */
  readonly byText = new Map<string, RequestChildren>();
  constructor(
    readonly side: 'inbound' | 'outbound',
    readonly peer: WorkloadInfo | null,
    readonly peerPrincipal: string,
    readonly destinationService: string,
    readonly mtls: boolean,
    readonly labels: IstioLabels,
  ) {}
}

/** Handle of an open TCP connection's metric children. */
export interface TcpChildren {
  opened: CounterChild;
  sent: CounterChild;
  received: CounterChild;
  closed: CounterChild;
}

function serviceParts(fqdn: string): { name: string; namespace: string } {
  const parts = fqdn.split('.');
  return parts.length >= 2 && parts[2] === 'svc' ? { name: parts[0], namespace: parts[1] } : { name: fqdn, namespace: '' };
}

function orUnknown(v: string | undefined): string {
  return v ? v : 'unknown';
}

/** Records Istio's metrics for one proxy. */
export class TelemetryRecorder {
  readonly metrics: IstioMetrics;
  private readonly requestBases = new Map<string, RequestLabelBase>();
  private readonly tcpCache = new Map<string, TcpChildren>();

  constructor(readonly self: WorkloadInfo, registry?: Registry) {
    this.metrics = registerIstioMetrics(registry);
  }

  /** The label set of a request or connection. */
  labels(side: 'inbound' | 'outbound', peer: WorkloadInfo | null, peerPrincipal: string, destinationService: string, mtls: boolean): IstioLabels {
    const src = side === 'outbound' ? this.self : peer;
    const dst = side === 'outbound' ? peer : this.self;
    const svc = serviceParts(destinationService);
    return {
      reporter: side === 'outbound' ? 'source' : 'destination',
      source_workload: orUnknown(src?.workload),
      source_workload_namespace: orUnknown(src?.namespace),
      source_principal: orUnknown(side === 'outbound' ? this.self.principal : peerPrincipal),
      source_app: orUnknown(src?.app),
      source_version: orUnknown(src?.version),
      source_canonical_service: orUnknown(src?.canonicalService),
      source_canonical_revision: orUnknown(src?.canonicalRevision),
      source_cluster: orUnknown(src?.cluster),
      destination_workload: orUnknown(dst?.workload),
      destination_workload_namespace: orUnknown(dst?.namespace),
      destination_principal: orUnknown(side === 'outbound' ? peerPrincipal : this.self.principal),
      destination_app: orUnknown(dst?.app),
      destination_version: orUnknown(dst?.version),
      destination_service: orUnknown(destinationService),
      destination_service_name: orUnknown(svc.name),
      destination_service_namespace: orUnknown(svc.namespace || dst?.namespace),
      destination_canonical_service: orUnknown(dst?.canonicalService),
      destination_canonical_revision: orUnknown(dst?.canonicalRevision),
      destination_cluster: orUnknown(dst?.cluster),
      connection_security_policy: side === 'outbound' ? 'unknown' : mtls ? 'mutual_tls' : 'none',
    };
  }

  /** Records a finished request. */
  request(f: RequestFacts): void {
    const base = this.requestBase(f.side, f.peer, f.peerPrincipal, f.destinationService, f.mtls);
    this.childrenFor(base, f.protocol, f.responseCode, f.grpcStatus, f.responseFlags).add(f.durationMs, f.requestBytes, f.responseBytes);
  }

  /**
   * The labels a request's metrics share apart from its outcome (side, peer workload and
   * principal, destination service, mTLS), resolved once per combination: the request path
   * keeps the handle (per destination) and records outcomes on it with {@link record}.
   */
  requestBase(side: 'inbound' | 'outbound', peer: WorkloadInfo | null, peerPrincipal: string, destinationService: string, mtls: boolean): RequestLabelBase {
    const key = `${side}|${peer?.pod ?? ''}|${peer?.namespace ?? ''}|${peerPrincipal}|${destinationService}|${mtls ? 1 : 0}`;
    let b = this.requestBases.get(key);
    if (b === undefined) {
      b = new RequestLabelBase(side, peer, peerPrincipal, destinationService, mtls, this.labels(side, peer, peerPrincipal, destinationService, mtls));
      if (this.requestBases.size > 10_000) this.requestBases.clear();
      this.requestBases.set(key, b);
    }
    return b;
  }

  /**
   * Records a finished request on a label handle: the outcome (protocol, response code, gRPC
   * status, response flags) picks the metric children by a number, with no string built per
   * request. `grpcStatus` is -1 for none; `flags` are the RF bits `flagsText` formats.
   */
  record(base: RequestLabelBase, grpc: boolean, responseCode: number, grpcStatus: number, flags: number, flagsText: string, durationMs: number, requestBytes: number, responseBytes: number): void {
    let c: RequestChildren | undefined;
    if (grpcStatus < 63 && responseCode >= 0 && responseCode < 1000 && flags >= 0 && flags < 1 << 24) {
      const k = ((flags * 64 + (grpcStatus + 1)) * 1000 + responseCode) * 2 + (grpc ? 1 : 0);
      c = base.byOutcome.get(k);
      if (c === undefined) {
        c = this.childrenFor(base, grpc ? 'grpc' : 'http', responseCode, grpcStatus >= 0 ? String(grpcStatus) : '', flagsText);
        base.byOutcome.set(k, c);
      }
    } else c = this.childrenFor(base, grpc ? 'grpc' : 'http', responseCode, grpcStatus >= 0 ? String(grpcStatus) : '', flagsText);
    c.add(durationMs, requestBytes, responseBytes);
  }

  private childrenFor(base: RequestLabelBase, protocol: string, responseCode: number, grpcStatus: string, responseFlags: string): RequestChildren {
    const key = `${protocol}|${responseCode}|${grpcStatus}|${responseFlags}`;
    let c = base.byText.get(key);
    if (c === undefined) {
      const l: IstioLabels = { ...base.labels };
      l.request_protocol = protocol;
      l.response_code = String(responseCode);
      l.grpc_response_status = grpcStatus;
      l.response_flags = responseFlags || '-';
      const values = requestLabelValues(l);
      c = new RequestChildren(this.metrics.requestsTotal.labels(...values), this.metrics.requestDuration.labels(...values), this.metrics.requestBytes.labels(...values), this.metrics.responseBytes.labels(...values));
      if (base.byText.size > 1000) {
        base.byText.clear();
        base.byOutcome.clear();
      }
      base.byText.set(key, c);
    }
    return c;
  }

  /** Records a TCP connection opening; returns the children to add bytes to and to close. */
  tcpOpened(f: TcpFacts): TcpChildren {
    const key = `${f.side}|${f.peer?.pod ?? ''}|${f.peer?.namespace ?? ''}|${f.peerPrincipal}|${f.destinationService}|${f.responseFlags}|${f.mtls ? 1 : 0}`;
    let c = this.tcpCache.get(key);
    if (!c) {
      const values = tcpLabelValues({ ...this.labels(f.side, f.peer, f.peerPrincipal, f.destinationService, f.mtls), response_flags: f.responseFlags || '-' });
      c = {
        opened: this.metrics.tcpConnectionsOpened.labels(...values),
        sent: this.metrics.tcpSentBytes.labels(...values),
        received: this.metrics.tcpReceivedBytes.labels(...values),
        closed: this.metrics.tcpConnectionsClosed.labels(...values),
      };
      if (this.tcpCache.size > 50_000) this.tcpCache.clear();
      this.tcpCache.set(key, c);
    }
    c.opened.inc();
    return c;
  }
}
