/**
 * The mesh as a graph, computed from Istio's standard metrics: workloads as nodes, calls as edges
 * with request rate, success rate, P50/P99 and whether they are mutual TLS
 * (`connection_security_policy`), and each service's traffic split by version. The same pure
 * functions serve rates read from Prometheus and rates computed from the proxies' own metrics, and
 * the types are the JSON the dashboard's API serves.
 */

/** A label set and its per-second rate (a Prometheus vector sample, or a counter delta over time). */
export interface RateSeries {
  labels: Record<string, string>;
  rate: number;
}

/** A workload as Istio's metric labels name it (`destination_workload`, `_workload_namespace`, `_app`, `_version`). */
export interface WorkloadRef {
  namespace: string;
  workload: string;
  app: string;
  version: string;
}

/** One call edge between two workloads. */
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** `name.namespace` of the destination service. */
  service: string;
  rps: number;
  /** Share of non-5xx answers, 0..1 (null when no request in the window). */
  successRate: number | null;
  /** Milliseconds, from `istio_request_duration_milliseconds` buckets (null when no request in the window). */
  p50: number | null;
  p99: number | null;
  /** Share of the requests with `connection_security_policy="mutual_tls"`, 0..1. */
  mtlsShare: number;
  /** Every request in the window (or, when idle, every series seen) was mutual TLS. */
  mtls: boolean;
}

/** One workload. */
export interface GraphNode extends WorkloadRef {
  /** `namespace/workload`. */
  id: string;
  /** Requests per second into the workload (destination side). */
  rpsIn: number;
  rpsOut: number;
  /** Has a proxy connected to the control plane. */
  proxied: boolean;
}

/** Where the numbers came from. */
export type MetricsSource = 'prometheus' | 'proxies';

/** The service graph. */
export interface MeshGraph {
  source: MetricsSource;
  /** Rate window, seconds. */
  windowSeconds: number;
  /** Shown beside the graph, e.g. why Prometheus is not used. */
  note?: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** A service's traffic by version, observed and configured. */
export interface ServiceSplit {
  /** `name.namespace`. */
  service: string;
  versions: { version: string; rps: number; share: number; weight: number | null }[];
  rps: number;
}

// The dashboard API's other answers.

/** A proxy's sync state as the dashboard shows it. */
export interface ProxyView {
  id: string;
  pod: string;
  namespace: string;
  kind: string;
  ip: string;
  /** `namespace/workload` of its pod. */
  workload: string;
  /** SYNCED when every type is; else the worst state (NACKED, STALE, NOT SENT). */
  state: string;
  types: Record<string, string>;
  nacks: string[];
}

/** One workload's page. */
export interface WorkloadView {
  workload: WorkloadRef & { id: string };
  inbound: GraphEdge[];
  outbound: GraphEdge[];
  proxies: ProxyView[];
  /** The first proxy's config, summarised (null when the workload has no connected proxy). */
  config: ProxyConfigView | null;
  source: MetricsSource;
  note?: string;
}

/** A proxy's listeners, routes and clusters as the control plane serves them. */
export interface ProxyConfigView {
  proxy: string;
  versions: Record<string, string>;
  listeners: { name: string; address: string; chains: number }[];
  routes: { name: string; virtualHosts: { name: string; domains: string[]; routes: string[] }[] }[];
  clusters: { name: string; type: string; endpoints: number | null }[];
}

/**
 * The destination service of a series as `name.namespace`: `destination_service_name` and
 * `_namespace`, else the host of `destination_service`, else the destination's canonical service
 * or app (a destination-side proxy that could not tell which service a request addressed reports
 * `unknown` there).
 */
export function serviceOf(l: Record<string, string>): string {
  const known = (v: string | undefined) => (v && v !== 'unknown' ? v : undefined);
  const ns = known(l.destination_service_namespace) ?? known(l.destination_workload_namespace) ?? 'unknown';
  const name = known(l.destination_service_name);
  if (name) return `${name}.${ns}`;
  const host = known(l.destination_service);
  if (host && !/^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(host)) {
    const p = host.split(':')[0].split('.');
    return p.length >= 2 ? `${p[0]}.${p[1]}` : `${p[0]}.${ns}`;
  }
  return `${known(l.destination_canonical_service) ?? known(l.destination_app) ?? 'unknown'}.${ns}`;
}

/** Requests per second of 5xx in `rate` terms. */
const isServerError = (code: string | undefined) => !!code && code.startsWith('5');

const ref = (l: Record<string, string>, side: 'source' | 'destination'): WorkloadRef => ({
  namespace: l[`${side}_workload_namespace`] || 'unknown',
  workload: l[`${side}_workload`] || 'unknown',
  app: l[`${side}_app`] || l[`${side}_canonical_service`] || 'unknown',
  version: l[`${side}_version`] || l[`${side}_canonical_revision`] || 'unknown',
});

const nodeId = (w: WorkloadRef) => `${w.namespace}/${w.workload}`;

/**
 * Prometheus' `histogram_quantile` over cumulative bucket counts (or rates) `[le, count]`:
 * linear interpolation inside the bucket holding the rank, the `+Inf` bucket answered with the
 * highest finite bound. Null when the total is 0.
 */
export function histogramQuantile(q: number, buckets: readonly (readonly [number, number])[]): number | null {
  const b = [...buckets].sort((x, y) => x[0] - y[0]);
  if (!b.length) return null;
  const total = b[b.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of b) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      const lower = prevLe > le ? 0 : prevLe;
      return lower + ((le - lower) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/**
 * The graph from `istio_requests_total` rates (reporter `destination`, any labels grouping
 * source/destination workload, `response_code`, `connection_security_policy`) and
 * `istio_request_duration_milliseconds_bucket` rates (the same plus `le`). `workloads` adds the
 * proxied workloads that had no traffic, so idle ones still show.
 */
export function buildGraph(
  requests: readonly RateSeries[],
  buckets: readonly RateSeries[],
  o: { source: MetricsSource; windowSeconds: number; note?: string; workloads?: readonly WorkloadRef[] },
): MeshGraph {
  const nodes = new Map<string, GraphNode>();
  const node = (w: WorkloadRef, proxied = false) => {
    const id = nodeId(w);
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { ...w, id, rpsIn: 0, rpsOut: 0, proxied }));
    if (n.app === 'unknown') n.app = w.app;
    if (n.version === 'unknown') n.version = w.version;
    n.proxied ||= proxied;
    return n;
  };
  for (const w of o.workloads ?? []) node(w, true);
  interface Acc { edge: GraphEdge; errors: number; mtlsRps: number; series: number; mtlsSeries: number; buckets: Map<number, number> }
  const edges = new Map<string, Acc>();
  const edgeOf = (l: Record<string, string>) => {
    const s = node(ref(l, 'source'));
    const d = node(ref(l, 'destination'));
    const service = serviceOf(l);
    const id = `${s.id}>${d.id}>${service}`;
    let a = edges.get(id);
    if (!a) {
      a = { edge: { id, source: s.id, target: d.id, service, rps: 0, successRate: null, p50: null, p99: null, mtlsShare: 0, mtls: false }, errors: 0, mtlsRps: 0, series: 0, mtlsSeries: 0, buckets: new Map() };
      edges.set(id, a);
    }
    return { a, s, d };
  };
  for (const r of requests) {
    if (r.labels.reporter && r.labels.reporter !== 'destination') continue;
    const { a, s, d } = edgeOf(r.labels);
    const rate = Number.isFinite(r.rate) && r.rate > 0 ? r.rate : 0;
    a.edge.rps += rate;
    s.rpsOut += rate;
    d.rpsIn += rate;
    if (isServerError(r.labels.response_code)) a.errors += rate;
    a.series++;
    if (r.labels.connection_security_policy === 'mutual_tls') {
      a.mtlsRps += rate;
      a.mtlsSeries++;
    }
  }
  for (const b of buckets) {
    if (b.labels.reporter && b.labels.reporter !== 'destination') continue;
    const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
    if (Number.isNaN(le)) continue;
    const { a } = edgeOf(b.labels);
    a.buckets.set(le, (a.buckets.get(le) ?? 0) + (Number.isFinite(b.rate) ? b.rate : 0));
  }
  for (const a of edges.values()) {
    const e = a.edge;
    if (e.rps > 0) {
      e.successRate = 1 - a.errors / e.rps;
      e.mtlsShare = a.mtlsRps / e.rps;
      e.mtls = a.mtlsRps >= e.rps * 0.999;
    } else {
      e.mtlsShare = a.series ? a.mtlsSeries / a.series : 0;
      e.mtls = a.series > 0 && a.mtlsSeries === a.series;
    }
    const bs = [...a.buckets.entries()];
    e.p50 = histogramQuantile(0.5, bs);
    e.p99 = histogramQuantile(0.99, bs);
  }
  return {
    source: o.source,
    windowSeconds: o.windowSeconds,
    ...(o.note ? { note: o.note } : {}),
    nodes: [...nodes.values()].sort((x, y) => x.id.localeCompare(y.id)),
    edges: [...edges.values()].map((a) => a.edge).sort((x, y) => x.id.localeCompare(y.id)),
  };
}

/** A route's weighted destinations: `outbound|<port>|<subset>|<host>` names and weights. */
interface RouteJson {
  virtual_hosts?: { routes?: { route?: { cluster?: string; weighted_clusters?: { clusters?: { name: string; weight?: number | { value?: number } }[] } } }[] }[];
}

/**
 * Configured weights per service (`name.namespace`) and subset, from Envoy RouteConfigurations
 * (`route.weighted_clusters`, or a single `route.cluster` as 100), as the control plane serves
 * them (`/debug/config_dump`). The first route that names a service decides its weights.
 */
export function weightsFromRoutes(routes: readonly unknown[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const svcOf = (cluster: string) => {
    const p = cluster.split('|');
    if (p.length !== 4 || p[0] !== 'outbound') return undefined;
    const host = p[3].split('.');
    return { service: host.length >= 2 ? `${host[0]}.${host[1]}` : p[3], subset: p[2] };
  };
  for (const rc of routes as RouteJson[]) {
    for (const vh of rc?.virtual_hosts ?? []) {
      for (const r of vh.routes ?? []) {
        const wc = r.route?.weighted_clusters?.clusters;
        const entries: { service: string; subset: string; weight: number }[] = [];
        if (wc?.length) {
          for (const c of wc) {
            const s = svcOf(c.name);
            const w = typeof c.weight === 'number' ? c.weight : (c.weight?.value ?? 0);
            if (s) entries.push({ ...s, weight: w });
          }
        } else if (r.route?.cluster) {
          const s = svcOf(r.route.cluster);
          if (s && s.subset) entries.push({ ...s, weight: 100 });
        }
        const services = new Set(entries.map((e) => e.service));
        if (services.size !== 1) continue;
        const svc = [...services][0];
        if (out.has(svc)) continue;
        const total = entries.reduce((n, e) => n + e.weight, 0) || 1;
        const m = new Map<string, number>();
        for (const e of entries) m.set(e.subset, (m.get(e.subset) ?? 0) + (100 * e.weight) / total);
        out.set(svc, m);
      }
    }
  }
  return out;
}

/** Each service's requests by `destination_version`, with the configured weight of the subset of the same name. */
export function buildSplits(requests: readonly RateSeries[], weights: Map<string, Map<string, number>>): ServiceSplit[] {
  const by = new Map<string, Map<string, number>>();
  for (const r of requests) {
    if (r.labels.reporter && r.labels.reporter !== 'destination') continue;
    const svc = serviceOf(r.labels);
    const v = r.labels.destination_version || 'unknown';
    const m = by.get(svc) ?? new Map<string, number>();
    m.set(v, (m.get(v) ?? 0) + (Number.isFinite(r.rate) && r.rate > 0 ? r.rate : 0));
    by.set(svc, m);
  }
  for (const [svc, w] of weights) {
    const m = by.get(svc) ?? new Map<string, number>();
    for (const subset of w.keys()) if (!m.has(subset)) m.set(subset, 0);
    by.set(svc, m);
  }
  const out: ServiceSplit[] = [];
  for (const [service, m] of by) {
    const rps = [...m.values()].reduce((a, b) => a + b, 0);
    const w = weights.get(service);
    const versions = [...m.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([version, vr]) => ({ version, rps: vr, share: rps > 0 ? vr / rps : 0, weight: w ? (w.get(version) ?? 0) : null }));
    // one version and no weights: nothing to split
    if (versions.length < 2 && !w) continue;
    out.push({ service, versions, rps });
  }
  return out.sort((a, b) => a.service.localeCompare(b.service));
}

/** A cumulative sample as scraped at `at` (ms). */
export interface CounterSnapshot {
  at: number;
  /** Counter values by series key. */
  values: Map<string, { labels: Record<string, string>; value: number }>;
}

/**
 * Per-second rates between two scrapes of the same counters, as Prometheus' `rate` does for two
 * points: a counter that went down (a restart) counts from zero; series new in `later` count from
 * zero too. `older` absent: every series at rate 0 (seen, no rate yet).
 */
export function ratesBetween(older: CounterSnapshot | undefined, later: CounterSnapshot): RateSeries[] {
  const dt = older ? (later.at - older.at) / 1000 : 0;
  const out: RateSeries[] = [];
  for (const [key, s] of later.values) {
    if (!older || dt <= 0) {
      out.push({ labels: s.labels, rate: 0 });
      continue;
    }
    const before = older.values.get(key)?.value ?? 0;
    const delta = s.value >= before ? s.value - before : s.value;
    out.push({ labels: s.labels, rate: delta / dt });
  }
  return out;
}

/** A stable key for a label set. */
export function seriesKey(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

/** A span as the dashboard's trace view shows it (decoded from OTLP). */
export interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** `service.name` of the resource that sent it. */
  service: string;
  kind: 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER' | 'UNSPECIFIED';
  /** Epoch milliseconds. */
  startMs: number;
  durationMs: number;
  error: boolean;
  attributes: Record<string, string>;
}

/** One trace in the list. */
export interface TraceSummary {
  traceId: string;
  /** Name of the earliest span without a parent in the trace (or the earliest span). */
  root: string;
  services: string[];
  spans: number;
  startMs: number;
  durationMs: number;
  error: boolean;
}
