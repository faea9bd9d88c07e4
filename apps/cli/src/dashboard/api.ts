/**
 * The dashboard's JSON API, computed from the control plane (`/debug/syncz`,
 * `/debug/config_dump`, `/debug/config_issues`) and from Prometheus or, without it, the proxies'
 * own metrics.
 */
import {
  buildGraph, buildSplits, weightsFromRoutes,
  type MeshGraph, type ProxyConfigView, type ProxyView, type ServiceSplit, type WorkloadRef, type WorkloadView,
} from '@tsmesh/telemetry';
import { getJson, type ConfigDump, type ProxyStatusEntry } from '../commands/proxy-status';
import { ProxyScraper, promQuery, trafficQueries, type TrafficRates } from './metrics';

/** Options of {@link DashboardApi}. */
export interface DashboardApiOptions {
  controlPlane: string;
  /** Prometheus' base URL; absent: the proxies' own metrics. */
  prometheus?: string;
  /** Rate window in seconds (default 15). */
  windowSeconds?: number;
  /** Merged-metrics URL of a proxy (default `http://<ip>:15020/stats/prometheus`). */
  proxyMetricsUrl?: (p: ProxyStatusEntry) => string | undefined;
}

/**
 * `todolist-v1-5f6d7c9b8-x2x7q` → `todolist-v1` (Deployment pods: `<deployment>-<template hash>-<suffix>`),
 * `web-0` → `web` (StatefulSet): the rule the proxies use for `*_workload` when no
 * `ISTIO_META_WORKLOAD_NAME` is set, so a proxy's pod meets its workload's metrics.
 */
export function workloadOfPod(pod: string): string {
  const m = /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod);
  if (m) return m[1];
  const s = /^(.+)-\d+$/.exec(pod);
  return s ? s[1] : pod;
}

const STATE_ORDER = ['NACKED', 'STALE', 'NOT SENT', 'SYNCED', 'IGNORED'];

/** The proxies table from `/debug/syncz` entries. */
export function proxyViews(entries: readonly ProxyStatusEntry[]): ProxyView[] {
  return entries
    .map((e) => {
      const types = Object.fromEntries(Object.entries(e.types).map(([t, s]) => [t, s.state]));
      const states = Object.values(types);
      const state = STATE_ORDER.find((s) => s !== 'IGNORED' && s !== 'SYNCED' && states.includes(s)) ?? (states.length ? 'SYNCED' : 'NOT SENT');
      const nacks = Object.entries(e.types).filter(([, s]) => s.state === 'NACKED' && s.nack).map(([t, s]) => `${t} ${s.nack!.version}: ${s.nack!.message}`);
      const pod = e.pod ?? e.proxy;
      const namespace = e.namespace ?? 'unknown';
      return { id: e.proxy, pod, namespace, kind: e.kind ?? 'sidecar', ip: e.ip ?? e.proxy.split('~')[1] ?? '', workload: `${namespace}/${workloadOfPod(pod)}`, state, types, nacks };
    })
    .sort((a, b) => `${a.namespace}/${a.pod}`.localeCompare(`${b.namespace}/${b.pod}`));
}

/** Listeners, routes and clusters of a config dump, summarised for a page. */
export function summariseConfig(d: ConfigDump): ProxyConfigView {
  const res = (k: string) => ((Array.isArray(d.resources) ? [] : d.resources[k]) ?? []) as Record<string, unknown>[];
  type Addr = { socket_address?: { address?: string; port_value?: number } };
  const eps = new Map<string, number>();
  for (const c of res('ClusterLoadAssignment') as { cluster_name?: string; endpoints?: { lb_endpoints?: unknown[] }[] }[]) {
    eps.set(c.cluster_name ?? '', (c.endpoints ?? []).reduce((n, l) => n + (l.lb_endpoints?.length ?? 0), 0));
  }
  return {
    proxy: d.proxy,
    versions: d.versions,
    listeners: (res('Listener') as { name: string; address?: Addr; filter_chains?: unknown[] }[]).map((l) => ({
      name: l.name,
      address: `${l.address?.socket_address?.address ?? '?'}:${l.address?.socket_address?.port_value ?? '?'}`,
      chains: l.filter_chains?.length ?? 0,
    })),
    routes: (res('RouteConfiguration') as { name: string; virtual_hosts?: { name: string; domains?: string[]; routes?: { match?: { prefix?: string; path?: string; safe_regex?: { regex?: string } }; route?: { cluster?: string; weighted_clusters?: { clusters?: { name: string; weight?: number | { value?: number } }[] } }; direct_response?: { status?: number } }[] }[] }[]).map((r) => ({
      name: r.name,
      virtualHosts: (r.virtual_hosts ?? []).map((vh) => ({
        name: vh.name,
        domains: (vh.domains ?? []).slice(0, 4),
        routes: (vh.routes ?? []).map((rt) => {
          const m = rt.match?.path ?? rt.match?.prefix ?? (rt.match?.safe_regex ? `~${rt.match.safe_regex.regex}` : '*');
          const wc = rt.route?.weighted_clusters?.clusters;
          const to = wc?.length
            ? wc.map((c) => `${c.name} ${typeof c.weight === 'number' ? c.weight : (c.weight?.value ?? 0)}`).join(', ')
            : (rt.route?.cluster ?? (rt.direct_response ? `direct ${rt.direct_response.status}` : '-'));
          return `${m} → ${to}`;
        }),
      })),
    })),
    clusters: (res('Cluster') as { name: string; type?: string; cluster_discovery_type?: string }[]).map((c) => ({
      name: c.name,
      type: c.type ?? 'EDS',
      endpoints: eps.has(c.name) ? eps.get(c.name)! : null,
    })),
  };
}

/** Computes what the dashboard shows. One per server; the proxy scraper keeps a short history. */
export class DashboardApi {
  readonly windowSeconds: number;
  private readonly scraper: ProxyScraper;
  private lastScrape = 0;
  private scraping?: Promise<void>;

  constructor(private readonly o: DashboardApiOptions) {
    this.windowSeconds = o.windowSeconds ?? 15;
    this.scraper = new ProxyScraper(this.windowSeconds);
  }

  /** `/debug/syncz` of the control plane. */
  async syncz(): Promise<ProxyStatusEntry[]> {
    return getJson<ProxyStatusEntry[]>(this.o.controlPlane, '/debug/syncz');
  }

  /** Request and latency rates: from Prometheus when it answers, else from the proxies (and the note says why). */
  async rates(entries?: ProxyStatusEntry[]): Promise<TrafficRates> {
    let note: string | undefined;
    if (this.o.prometheus) {
      try {
        const q = trafficQueries(this.windowSeconds);
        const [requests, buckets] = await Promise.all([promQuery(this.o.prometheus, q.requests), promQuery(this.o.prometheus, q.buckets)]);
        return { source: 'prometheus', windowSeconds: this.windowSeconds, requests, buckets };
      } catch (err) {
        note = `Prometheus at ${this.o.prometheus} did not answer (${(err as Error).message}); showing the proxies' own metrics`;
      }
    } else {
      note = 'no Prometheus: showing the proxies\' own metrics (15020 /stats/prometheus), rates from successive scrapes';
    }
    await this.scrapeProxies(entries ?? (await this.syncz()));
    const r = this.scraper.rates();
    if (r.errors.length) note += `; not scraped: ${r.errors.slice(0, 3).join('; ')}`;
    return { source: 'proxies', windowSeconds: this.windowSeconds, note, requests: r.requests, buckets: r.buckets };
  }

  /** Scrapes the proxies at most once a second (concurrent callers share a scrape). */
  private async scrapeProxies(entries: ProxyStatusEntry[]): Promise<void> {
    if (this.scraping) return this.scraping;
    if (Date.now() - this.lastScrape < 1000) return;
    const url = this.o.proxyMetricsUrl ?? ((p: ProxyStatusEntry) => {
      const ip = p.ip ?? p.proxy.split('~')[1];
      return ip ? `http://${ip.includes(':') ? `[${ip}]` : ip}:15020/stats/prometheus` : undefined;
    });
    const targets = entries.flatMap((e) => {
      const u = url(e);
      return u ? [{ id: e.proxy, url: u }] : [];
    });
    this.scraping = this.scraper.scrape(targets).finally(() => {
      this.lastScrape = Date.now();
      this.scraping = undefined;
    });
    return this.scraping;
  }

  /** The workloads of the connected proxies (from their pod names), so idle ones show in the graph. */
  workloadsOf(entries: ProxyStatusEntry[]): WorkloadRef[] {
    return proxyViews(entries).map((p) => {
      const workload = p.workload.split('/')[1];
      const v = /-(v\d+)$/.exec(workload)?.[1];
      return { namespace: p.namespace, workload, app: v ? workload.slice(0, -v.length - 1) : workload, version: v ?? 'unknown' };
    });
  }

  /** The service graph. */
  async graph(): Promise<MeshGraph> {
    const entries = await this.syncz();
    const r = await this.rates(entries);
    return buildGraph(r.requests, r.buckets, { source: r.source, windowSeconds: r.windowSeconds, note: r.note, workloads: this.workloadsOf(entries) });
  }

  /** Configured weights from the route tables of the gateway and the sidecars (one proxy of each kind and namespace). */
  async weights(entries?: ProxyStatusEntry[]): Promise<Map<string, Map<string, number>>> {
    const list = entries ?? (await this.syncz());
    const seen = new Set<string>();
    const pick = list.filter((e) => {
      const k = `${e.kind}/${e.namespace}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    const routes: unknown[] = [];
    await Promise.all(pick.map(async (e) => {
      try {
        const d = await getJson<ConfigDump>(this.o.controlPlane, `/debug/config_dump?proxyID=${encodeURIComponent(e.proxy)}`);
        if (!Array.isArray(d.resources)) routes.push(...(d.resources.RouteConfiguration ?? []));
      } catch {
        // a proxy that went away between the two calls
      }
    }));
    return weightsFromRoutes(routes);
  }

  /** Each service's split by version (observed share and configured weight). */
  async splits(): Promise<{ source: TrafficRates['source']; windowSeconds: number; note?: string; services: ServiceSplit[] }> {
    const entries = await this.syncz();
    const [r, w] = await Promise.all([this.rates(entries), this.weights(entries)]);
    return { source: r.source, windowSeconds: r.windowSeconds, ...(r.note ? { note: r.note } : {}), services: buildSplits(r.requests, w) };
  }

  /** Every proxy's sync state. */
  async proxies(): Promise<ProxyView[]> {
    return proxyViews(await this.syncz());
  }

  /** The control plane's validation issues. */
  async issues(): Promise<unknown[]> {
    return getJson<unknown[]>(this.o.controlPlane, '/debug/config_issues');
  }

  /** One workload: its inbound and outbound edges, proxies and its first proxy's config. */
  async workload(namespace: string, name: string): Promise<WorkloadView> {
    const entries = await this.syncz();
    const r = await this.rates(entries);
    const g = buildGraph(r.requests, r.buckets, { source: r.source, windowSeconds: r.windowSeconds, note: r.note, workloads: this.workloadsOf(entries) });
    const id = `${namespace}/${name}`;
    const node = g.nodes.find((n) => n.id === id);
    const proxies = proxyViews(entries).filter((p) => p.workload === id);
    if (!node && !proxies.length) throw new NotFoundError(`no workload ${id}: not in the metrics and no proxy of it is connected`);
    let config: ProxyConfigView | null = null;
    if (proxies[0]) config = summariseConfig(await getJson<ConfigDump>(this.o.controlPlane, `/debug/config_dump?proxyID=${encodeURIComponent(proxies[0].id)}`));
    return {
      workload: node ?? { id, namespace, workload: name, app: name, version: 'unknown' },
      inbound: g.edges.filter((e) => e.target === id),
      outbound: g.edges.filter((e) => e.source === id),
      proxies,
      config,
      source: r.source,
      ...(r.note ? { note: r.note } : {}),
    };
  }
}

/** A page asked for something that does not exist (HTTP 404). */
export class NotFoundError extends Error {
  readonly code = 'CLI_DASHBOARD_NOT_FOUND';
}
