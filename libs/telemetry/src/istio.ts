/**
 * Istio's standard metrics, by the names and labels Istio documents, so Istio's dashboards and
 * alerts work against tsmesh proxies.
 */
import { Registry, type Counter, type Histogram } from './metrics';

/** Labels of Istio's standard request metrics, in exposition order. */
export const ISTIO_REQUEST_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

/** Labels of Istio's TCP metrics (the request labels minus the HTTP ones). */
export const ISTIO_TCP_LABELS = ISTIO_REQUEST_LABELS.filter(
  (l) => l !== 'request_protocol' && l !== 'response_code' && l !== 'grpc_response_status',
) as readonly string[];

/** Istio's default duration buckets, in milliseconds. */
export const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/** Istio's default size buckets, in bytes (powers of ten up to 1e9). */
export const SIZE_BUCKETS_BYTES = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** Label values of one request or connection, as a proxy knows them. */
export type IstioLabels = Partial<Record<(typeof ISTIO_REQUEST_LABELS)[number], string>>;

/** The standard metric set, registered on one registry. */
export interface IstioMetrics {
  registry: Registry;
  requestsTotal: Counter;
  requestDuration: Histogram;
  requestBytes: Histogram;
  responseBytes: Histogram;
  tcpSentBytes: Counter;
  tcpReceivedBytes: Counter;
  tcpConnectionsOpened: Counter;
  tcpConnectionsClosed: Counter;
}

/** Registers Istio's standard metrics. */
export function registerIstioMetrics(registry = new Registry()): IstioMetrics {
  const labelNames = ISTIO_REQUEST_LABELS;
  return {
    registry,
    requestsTotal: registry.counter({ name: 'istio_requests_total', help: 'Requests processed by the proxy.', labelNames }),
    requestDuration: registry.histogram({ name: 'istio_request_duration_milliseconds', help: 'Duration of requests in milliseconds.', labelNames, buckets: DURATION_BUCKETS_MS }),
    requestBytes: registry.histogram({ name: 'istio_request_bytes', help: 'Size of HTTP request bodies in bytes.', labelNames, buckets: SIZE_BUCKETS_BYTES }),
    responseBytes: registry.histogram({ name: 'istio_response_bytes', help: 'Size of HTTP response bodies in bytes.', labelNames, buckets: SIZE_BUCKETS_BYTES }),
    tcpSentBytes: registry.counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent in responses over TCP connections.', labelNames: ISTIO_TCP_LABELS }),
    tcpReceivedBytes: registry.counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received in requests over TCP connections.', labelNames: ISTIO_TCP_LABELS }),
    tcpConnectionsOpened: registry.counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened.', labelNames: ISTIO_TCP_LABELS }),
    tcpConnectionsClosed: registry.counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed.', labelNames: ISTIO_TCP_LABELS }),
  };
}

/** Label values in {@link ISTIO_REQUEST_LABELS} order; missing values become `unknown` as in Istio. */
export function requestLabelValues(l: IstioLabels): string[] {
  return ISTIO_REQUEST_LABELS.map((k) => l[k] ?? 'unknown');
}

/** Label values in {@link ISTIO_TCP_LABELS} order. */
export function tcpLabelValues(l: IstioLabels): string[] {
  return ISTIO_TCP_LABELS.map((k) => (l as Record<string, string | undefined>)[k] ?? 'unknown');
}
