/**
 * Where the dashboard's traffic numbers come from: Prometheus (PromQL over Istio's standard
 * metrics) when it is given and answers, else the proxies' own merged metrics (15020
 * `/stats/prometheus`) scraped directly, rates computed from successive scrapes.
 */
import {
  parseExposition, ratesBetween, seriesKey,
  type CounterSnapshot, type MetricsSource, type RateSeries,
} from '@tsmesh/telemetry';

/** Rates over the window, ready for `buildGraph` / `buildSplits`. */
export interface TrafficRates {
  source: MetricsSource;
  windowSeconds: number;
  note?: string;
  requests: RateSeries[];
  buckets: RateSeries[];
}

/** Labels the graph groups requests by (Istio's standard labels). */
export const REQUEST_GROUPING = [
  'source_workload', 'source_workload_namespace', 'source_app', 'source_version',
  'destination_workload', 'destination_workload_namespace', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace', 'destination_canonical_service',
  'response_code', 'connection_security_policy',
] as const;

const BUCKET_GROUPING = [
  'le', 'source_workload', 'source_workload_namespace', 'destination_workload', 'destination_workload_namespace', 'destination_app',
  'destination_service', 'destination_service_name', 'destination_service_namespace', 'destination_canonical_service',
] as const;

/** The PromQL the dashboard runs (reporter `destination`, as Istio's dashboards and Kiali read the graph). */
export function trafficQueries(windowSeconds: number): { requests: string; buckets: string } {
  const w = `${windowSeconds}s`;
  return {
    requests: `sum by (${REQUEST_GROUPING.join(', ')}) (rate(istio_requests_total{reporter="destination"}[${w}]))`,
    buckets: `sum by (${BUCKET_GROUPING.join(', ')}) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[${w}]))`,
  };
}

/** Prometheus' HTTP API failed or answered an error. */
export class PrometheusQueryError extends Error {
  readonly code = 'CLI_PROMETHEUS_QUERY';
}

/** Runs an instant query against Prometheus' `/api/v1/query`. */
export async function promQuery(base: string, promql: string): Promise<RateSeries[]> {
  const url = new URL('/api/v1/query', base);
  url.searchParams.set('query', promql);
  let r: Response;
  try {
    r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new PrometheusQueryError(`cannot reach Prometheus at ${url.origin}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
  }
  const body = (await r.json().catch(() => ({}))) as { status?: string; error?: string; data?: { result?: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new PrometheusQueryError(`Prometheus query failed (HTTP ${r.status}): ${body.error ?? 'no result'}`);
  return (body.data?.result ?? []).map((s) => ({ labels: s.metric, rate: Number(s.value[1]) }));
}

/** A proxy to scrape: its merged-metrics URL and who it is. */
export interface ScrapeTarget {
  id: string;
  url: string;
}

/** Scrapes the proxies' own metrics and keeps a short history per proxy to compute rates. */
export class ProxyScraper {
  private readonly history = new Map<string, CounterSnapshot[]>();
  private readonly errors = new Map<string, string>();

  constructor(private readonly windowSeconds: number) {}

  /** Scrapes every target once (in parallel, 2 s each); targets no longer listed are forgotten. */
  async scrape(targets: readonly ScrapeTarget[]): Promise<void> {
    const ids = new Set(targets.map((t) => t.id));
    for (const k of this.history.keys()) if (!ids.has(k)) this.history.delete(k);
    await Promise.all(targets.map(async (t) => {
      try {
        const r = await fetch(t.url, { signal: AbortSignal.timeout(2000) });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const at = Date.now();
        const values: CounterSnapshot['values'] = new Map();
        for (const s of parseExposition(await r.text())) {
          if (s.name !== 'istio_requests_total' && s.name !== 'istio_request_duration_milliseconds_bucket') continue;
          if (s.labels.reporter !== 'destination') continue;
          values.set(seriesKey(s.name, s.labels), { labels: { __name__: s.name, ...s.labels }, value: s.value });
        }
        const h = this.history.get(t.id) ?? [];
        h.push({ at, values });
        // keep what the window needs, plus one older point to span it
        while (h.length > 2 && h[1].at <= at - this.windowSeconds * 1000) h.shift();
        this.history.set(t.id, h);
        this.errors.delete(t.id);
      } catch (err) {
        this.errors.set(t.id, `${t.url}: ${(err as Error).message}`);
      }
    }));
  }

  /** Rates over (at most) the window, from the oldest kept scrape to the newest, per proxy. */
  rates(): { requests: RateSeries[]; buckets: RateSeries[]; errors: string[] } {
    const requests: RateSeries[] = [];
    const buckets: RateSeries[] = [];
    for (const h of this.history.values()) {
      const later = h[h.length - 1];
      const older = h.length > 1 ? h[0] : undefined;
      for (const r of ratesBetween(older, later)) {
        const { __name__: name, ...labels } = r.labels;
        (name === 'istio_requests_total' ? requests : buckets).push({ labels, rate: r.rate });
      }
    }
    return { requests, buckets, errors: [...this.errors.values()] };
  }
}
