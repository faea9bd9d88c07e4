/**
 * Istio's standard metrics recorded per request and per TCP connection, with Istio's labels:
 * `reporter` is `source` on the client side (outbound) and `destination` on the server side
 * (inbound); the local workload fills one side of the labels, the peer's exchanged metadata and
 * certificate the other. Label sets are resolved once per distinct combination and cached, so
 * recording a request is one string key, one map lookup and four adds.
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

interface RequestChildren {
  total: CounterChild;
  duration: HistogramChild;
  reqBytes: HistogramChild;
  respBytes: HistogramChild;
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
  private readonly requestCache = new Map<string, RequestChildren>();
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
    const key = `${f.side}|${f.peer?.pod ?? ''}|${f.peer?.namespace ?? ''}|${f.peerPrincipal}|${f.destinationService}|${f.protocol}|${f.responseCode}|${f.grpcStatus}|${f.responseFlags}|${f.mtls ? 1 : 0}`;
    let c = this.requestCache.get(key);
    if (!c) {
      const l = this.labels(f.side, f.peer, f.peerPrincipal, f.destinationService, f.mtls);
      l.request_protocol = f.protocol;
      l.response_code = String(f.responseCode);
      l.grpc_response_status = f.grpcStatus;
      l.response_flags = f.responseFlags || '-';
      const values = requestLabelValues(l);
      c = {
        total: this.metrics.requestsTotal.labels(...values),
        duration: this.metrics.requestDuration.labels(...values),
        reqBytes: this.metrics.requestBytes.labels(...values),
        respBytes: this.metrics.responseBytes.labels(...values),
      };
      if (this.requestCache.size > 50_000) this.requestCache.clear();
      this.requestCache.set(key, c);
    }
    c.total.inc();
    c.duration.observe(f.durationMs);
    c.reqBytes.observe(f.requestBytes);
    c.respBytes.observe(f.responseBytes);
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
