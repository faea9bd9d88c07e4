/**
 * A real Prometheus (Debian's `prometheus` package) for the demo's mesh: it scrapes what Istio's
 * Prometheus scrapes, under Istio's job names —
 *
 *   kubernetes-pods         every pod annotated `prometheus.io/scrape: "true"`, at
 *                           `prometheus.io/port` and `prometheus.io/path` (sidecars and gateways:
 *                           the merged metrics on 15020 `/stats/prometheus`; istiod: 15014)
 *   istiod                  control-plane pods (`app: istiod`) without the annotation, 15014 `/metrics`
 *   istio-ca                CA pods (`app: istio-ca`), 15014 `/metrics`
 *   istio-sidecar-injector  injector pods (`app: sidecar-injector`), HTTPS 15017 `/metrics`
 *   prometheus              itself
 *
 * Targets come from the pods the runtime reports, written as file-based service discovery (the
 * pods' labels become target labels, with `namespace` and `pod`, as Istio's relabelling does), so
 * pods that restart or come later are picked up on the next refresh.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

import type { PodInfo } from './runtime';

/** Where Debian installs Prometheus. */
export const PROMETHEUS_BINARY = '/usr/bin/prometheus';

/** What a scrape target needs to know of a pod. */
export interface ScrapePod {
  namespace: string;
  name: string;
  ip: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The runtime's pods as scrape candidates (labels and annotations as admitted). */
export function scrapePodsOf(rt: { pods(): PodInfo[] }): ScrapePod[] {
  return rt.pods().map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ip, labels: p.labels, annotations: (p.object.metadata?.annotations ?? {}) as Record<string, string> }));
}

/** One file-SD group. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** The job names, in the order they appear in the configuration. */
export const JOBS = ['kubernetes-pods', 'istiod', 'istio-ca', 'istio-sidecar-injector'] as const;
export type Job = (typeof JOBS)[number];

function labelName(k: string): string {
  return k.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
}

/** The scrape targets of each job for these pods. */
export function scrapeTargets(pods: readonly ScrapePod[]): Record<Job, TargetGroup[]> {
  const out: Record<Job, TargetGroup[]> = { 'kubernetes-pods': [], istiod: [], 'istio-ca': [], 'istio-sidecar-injector': [] };
  for (const p of pods) {
    if (!p.ip) continue;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.labels)) labels[labelName(k)] = v;
    labels.namespace = p.namespace;
    labels.pod = p.name;
    const a = p.annotations;
    if (a['prometheus.io/scrape'] === 'true') {
      const port = Number(a['prometheus.io/port'] ?? '');
      if (!Number.isInteger(port) || port <= 0 || port > 65535) continue;
      out['kubernetes-pods'].push({ targets: [`${p.ip}:${port}`], labels: { ...labels, __metrics_path__: a['prometheus.io/path'] || '/metrics' } });
      continue;
    }
    const app = p.labels.app;
    if (app === 'istiod') out.istiod.push({ targets: [`${p.ip}:15014`], labels });
    else if (app === 'istio-ca') out['istio-ca'].push({ targets: [`${p.ip}:15014`], labels });
    else if (app === 'sidecar-injector' || app === 'istio-sidecar-injector') out['istio-sidecar-injector'].push({ targets: [`${p.ip}:15017`], labels });
  }
  return out;
}

/** The Prometheus configuration: one file-SD job per {@link JOBS} entry in `dir`, and itself. */
export function prometheusConfig(dir: string, listen: string, scrapeIntervalSeconds: number): string {
  const job = (name: Job, extra: Record<string, unknown> = {}) => ({
    job_name: name,
    ...extra,
    file_sd_configs: [{ files: [join(dir, `${name}.json`)], refresh_interval: '5s' }],
  });
  return stringify({
    global: { scrape_interval: `${scrapeIntervalSeconds}s`, evaluation_interval: `${scrapeIntervalSeconds}s` },
    scrape_configs: [
      { job_name: 'prometheus', static_configs: [{ targets: [listen] }] },
      job('kubernetes-pods'),
      job('istiod'),
      job('istio-ca'),
      // The injector serves its metrics on the webhook's HTTPS port with a certificate it issues
      // itself; the scrape reads counters only, so it does not verify that certificate.
      job('istio-sidecar-injector', { scheme: 'https', tls_config: { insecure_skip_verify: true } }),
    ],
  });
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** Directory for the configuration, target files and the TSDB. */
  dir: string;
  /** Loopback port of the web UI and API (0 is not allowed: Prometheus needs the number). */
  port: number;
  /** The pods to scrape now (called on every refresh). */
  pods: () => ScrapePod[];
  scrapeIntervalSeconds?: number;
  /** How often targets are rewritten, in milliseconds. */
  refreshMs?: number;
  binary?: string;
}

/** A running Prometheus. */
export interface RunningPrometheus {
  url: string;
  /** Rewrites the target files now. */
  refresh(): void;
  /** Runs a PromQL instant query; returns the result vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** Why Prometheus cannot run here, or null when it can. */
export function prometheusUnavailable(binary = PROMETHEUS_BINARY): string | null {
  return existsSync(binary) ? null : `${binary} not found (Debian package "prometheus" not installed)`;
}

function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Starts Prometheus on 127.0.0.1:`port` and waits until it is ready. */
export async function startPrometheus(o: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = o.binary ?? PROMETHEUS_BINARY;
  const why = prometheusUnavailable(binary);
  if (why) throw new Error(`prometheus: ${why}`);
  mkdirSync(join(o.dir, 'data'), { recursive: true });
  const listen = `127.0.0.1:${o.port}`;
  const url = `http://${listen}`;
  const refresh = () => {
    const t = scrapeTargets(o.pods());
    for (const j of JOBS) writeAtomic(join(o.dir, `${j}.json`), JSON.stringify(t[j]));
  };
  refresh();
  writeAtomic(join(o.dir, 'prometheus.yml'), prometheusConfig(o.dir, listen, o.scrapeIntervalSeconds ?? 5));
  const child: ChildProcess = spawn(binary, [
    `--config.file=${join(o.dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(o.dir, 'data')}`, `--web.listen-address=${listen}`,
    '--storage.tsdb.retention.time=1d', '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const timer = setInterval(refresh, o.refreshMs ?? 2000);
  timer.unref();
  const stop = async () => {
    clearInterval(timer);
    if (exited !== undefined) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`prometheus exited with ${exited}: ${stderr.trim()}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready on ${url} within 30 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    refresh,
    async query(promql) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`prometheus query ${promql}: ${body.error ?? r.status}`);
      return body.data?.result ?? [];
    },
    stop,
  };
}
