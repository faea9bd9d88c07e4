/**
 * The pure parts of the demo (the mesh itself is `@tsmesh/cluster`'s mesh driver): progress events
 * from successive snapshots of the pods and endpoints, the split tally, the summary text.
 */
import type { MeshSnapshot, PodView } from '@tsmesh/cluster';

export type { MeshSnapshot, PodView, ProgressSink } from '@tsmesh/cluster';

/** Loopback addresses of the demo's mesh. */
export interface DemoEndpoints {
  gatewayHttp: string;
  gatewayHttps: string;
  /** Host name the HTTPS certificate is valid for (SNI). */
  httpsHost: string;
  controlPlane: string;
  gatewayMetrics: string;
  sidecarMetrics: string;
  /** Which sidecar `sidecarMetrics` is (`namespace/pod`). */
  sidecarPod: string;
  /** The mesh root certificate (PEM file) clients verify the gateway with. */
  rootCaFile: string;
  /** The demo's Prometheus (URL), or why it is not running (`prometheusMissing`). */
  prometheus?: string;
  prometheusMissing?: string;
  /** The web dashboard (`tsmesh dashboard`, started by the demo), or why it is not running. */
  dashboard?: string;
  dashboardMissing?: string;
  /** Where the proxies export OTLP/HTTP traces (the dashboard receives them there), or why they do not. */
  otlp?: { host: string; port: number };
  tracesMissing?: string;
}

/** One line of progress. */
export interface ProgressEvent {
  kind: 'started' | 'sidecar' | 'ready' | 'not ready' | 'restarted' | 'endpoints' | 'gone';
  subject: string;
  detail: string;
}

/** Turns successive snapshots into events: pods started (with or without an injected sidecar), sidecars ready, pods ready, endpoints changed. */
export class ProgressTracker {
  private pods = new Map<string, PodView>();
  private endpoints: Record<string, string[]> = {};

  update(s: MeshSnapshot): ProgressEvent[] {
    const out: ProgressEvent[] = [];
    const now = new Map(s.pods.map((p) => [p.key, p]));
    for (const p of s.pods) {
      const prev = this.pods.get(p.key);
      if (!prev) out.push({ kind: 'started', subject: p.key, detail: p.sidecar ? `${p.ip}, with the injected sidecar` : p.ip });
      if (p.sidecar && p.sidecarReady && !prev?.sidecarReady) out.push({ kind: 'sidecar', subject: p.key, detail: 'istio-proxy ready' });
      if (p.ready && !prev?.ready) out.push({ kind: 'ready', subject: p.key, detail: '' });
      if (!p.ready && prev?.ready) out.push({ kind: 'not ready', subject: p.key, detail: '' });
      if (prev && p.restarts > prev.restarts) out.push({ kind: 'restarted', subject: p.key, detail: `${p.restarts} restart${p.restarts === 1 ? '' : 's'}` });
    }
    for (const k of this.pods.keys()) if (!now.has(k)) out.push({ kind: 'gone', subject: k, detail: '' });
    for (const [svc, addrs] of Object.entries(s.endpoints)) {
      const before = (this.endpoints[svc] ?? []).join(',');
      const after = [...addrs].sort().join(',');
      if (before !== after) out.push({ kind: 'endpoints', subject: svc, detail: after ? after.replaceAll(',', ', ') : 'none' });
    }
    this.pods = now;
    this.endpoints = Object.fromEntries(Object.entries(s.endpoints).map(([k, v]) => [k, [...v].sort()]));
    return out;
  }
}

/** `pods 6/9 ready · sidecars 3/5 ready · endpoints 4/7 services`. */
export function statusLine(s: MeshSnapshot): string {
  const ready = s.pods.filter((p) => p.ready).length;
  const withSidecar = s.pods.filter((p) => p.sidecar);
  const services = Object.values(s.endpoints);
  return `pods ${ready}/${Math.max(s.expectedPods, s.pods.length)} ready · sidecars ${withSidecar.filter((p) => p.sidecarReady).length}/${withSidecar.length} ready · endpoints for ${services.filter((a) => a.length > 0).length}/${services.length} services`;
}

/** Counts of answers per `x-version` (or status when not 200). */
export interface Tally {
  total: number;
  counts: Record<string, number>;
  failures: number;
}

/** Adds one answer to a tally. */
export function count(t: Tally, label: string, ok: boolean): void {
  t.total++;
  t.counts[label] = (t.counts[label] ?? 0) + 1;
  if (!ok) t.failures++;
}

/** A bar chart of a tally, one line per label (versions first, in order). */
export function formatTally(t: Tally, indent = '    '): string {
  const labels = Object.keys(t.counts).sort();
  return labels
    .map((l) => {
      const n = t.counts[l];
      const pct = t.total ? (100 * n) / t.total : 0;
      return `${indent}${l.padEnd(8)} ${String(n).padStart(4)}  ${pct.toFixed(0).padStart(3)} %  ${'█'.repeat(Math.round(pct / 2.5))}`;
    })
    .join('\n');
}

/** Share of `label` in a tally, in percent. */
export function share(t: Tally, label: string): number {
  return t.total ? (100 * (t.counts[label] ?? 0)) / t.total : 0;
}

/** The commands the summary suggests, for a mesh reachable at `e`. */
export function tryCommands(e: DemoEndpoints, o: { cli: string; applyHint: string; controlPlaneDefault: boolean }): string[] {
  const lines: string[] = [];
  lines.push(`alias tsmesh='${o.cli}'${o.controlPlaneDefault ? '' : `; export TSMESH_CONTROL_PLANE=${e.controlPlane}`}`);
  lines.push(`for i in $(seq 20); do curl -s -o /dev/null -D - ${e.gatewayHttp}/ | grep -i '^x-version'; done | sort | uniq -c`);
  lines.push(`curl -s ${e.gatewayHttp}/caller/ping; echo        # caller → callme inside the mesh (mTLS), 20/80 split`);
  lines.push('tsmesh proxy-status');
  lines.push('tsmesh analyze infra/k8s/base');
  lines.push(`${o.applyHint}        # the canary at 50/50, live`);
  lines.push(`curl --cacert ${e.rootCaFile} ${e.gatewayHttps}/api/version; echo`);
  return lines;
}

/** The URL block of the summary. */
export function urlLines(e: DemoEndpoints): [string, string][] {
  return [
    ['gateway HTTP', `${e.gatewayHttp}/`],
    ['gateway HTTPS', `${e.gatewayHttps}/   (mesh root CA: ${e.rootCaFile})`],
    ['todolist page', `${e.gatewayHttp}/   (90 % v1, 10 % v2; see the x-version header)`],
    ['caller → callme', `${e.gatewayHttp}/caller/ping`],
    ['gateway metrics', `${e.gatewayMetrics}/stats/prometheus`],
    ['sidecar metrics', `${e.sidecarMetrics}/stats/prometheus   (${e.sidecarPod})`],
    ['proxy status', `${e.controlPlane}/debug/syncz   (tsmesh proxy-status)`],
    ['dashboard', e.dashboard ? `${e.dashboard}/   (service graph, splits, proxies, config issues, workloads)` : `not running: ${e.dashboardMissing ?? 'not started'}`],
    ['traces', e.dashboard && e.otlp ? `${e.dashboard}/#/traces   (every proxy exports OTLP/HTTP to http://${e.otlp.host}:${e.otlp.port}/v1/traces)` : `not collected: ${e.tracesMissing ?? e.dashboardMissing ?? 'no receiver'}`],
    ['prometheus', e.prometheus ? `${e.prometheus}/graph?g0.expr=${encodeURIComponent('sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload)')}` : `not running: ${e.prometheusMissing ?? 'not started'}`],
  ];
}
