/**
 * The proxy's telemetry: the Istio metrics recorder for its workload, tracing (when an OTLP
 * endpoint is configured), the access log, and the 15090 and 15020 metrics endpoints. Tracing
 * (OpenTelemetry's SDK and OTLP exporter) is loaded only when configured, in `listen()`: a proxy
 * without it never loads those modules.
 */
import type http from 'node:http';
import { Registry, registerProcessMetrics } from '@tsmesh/telemetry/metrics';
import { AccessLogger, type AccessLogTarget } from './access-log';
import { appScrapeTarget, listenMetrics, mergedMetricsHandler, prometheusHandler, type Exposition } from './endpoints';
import { TelemetryRecorder } from './recorder';
import { parseAppProbers, type AppProber } from './app-health';
import type { ProxyTracer, ProxyTracingOptions } from './tracing';
import type { TelemetryDeps } from './layer';
import { workloadInfo, type WorkloadInfo } from './workload';

/** Telemetry settings. */
export interface TelemetryOptions {
  pod: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount: string;
  trustDomain: string;
  workloadName?: string;
  cluster?: string;
  nodeId: string;
  accessLog: AccessLogTarget;
  tracing: ProxyTracingOptions | null;
}

/** Metrics, traces and access log of one proxy. */
export class ProxyTelemetry {
  readonly self: WorkloadInfo;
  readonly registry = new Registry();
  readonly recorder: TelemetryRecorder;
  /** Set by `listen()` when tracing is configured. */
  tracer: ProxyTracer | null = null;
  private readonly tracingOptions: ProxyTracingOptions | null;
  readonly accessLog: AccessLogger;
  readonly deps: TelemetryDeps;
  private readonly servers: http.Server[] = [];
  /** Why the merged endpoint could not listen, if it could not. */
  mergedError: string | null = null;
  /** More expositions for 15090 (the data path's own counters). */
  readonly extra: Exposition[] = [];

  constructor(o: TelemetryOptions) {
    this.self = workloadInfo({ pod: o.pod, namespace: o.namespace, labels: o.labels, workloadName: o.workloadName, serviceAccount: o.serviceAccount, cluster: o.cluster, trustDomain: o.trustDomain });
    registerProcessMetrics(this.registry);
    this.recorder = new TelemetryRecorder(this.self, this.registry);
    this.tracingOptions = o.tracing;
    this.accessLog = new AccessLogger(o.accessLog);
    this.deps = { recorder: this.recorder, tracer: this.tracer, accessLog: this.accessLog.enabled ? this.accessLog : null, nodeId: o.nodeId };
  }

  /** The proxy's own exposition (15090). */
  expose(): string {
    return this.registry.expose();
  }

  /** Probe targets from `ISTIO_KUBE_APP_PROBERS`, served on 15020 `/app-health/...`. */
  appProbers: ReadonlyMap<string, AppProber> = parseAppProbers(process.env.ISTIO_KUBE_APP_PROBERS);

  /** Starts 15090 (`/stats/prometheus`) and 15020 (merged with the app's); port 0 picks one. Resolves the bound ports. */
  async listen(host: string, prometheusPort: number, mergedPort: number | null): Promise<{ prometheus: number; merged: number | null }> {
    await this.startTracing();
    const sources: Exposition[] = [() => this.expose(), () => this.extra.map((e) => e()).join('')];
    const prom = await listenMetrics(prometheusHandler(sources), host, prometheusPort);
    this.servers.push(prom.server);
    let merged: number | null = null;
    if (mergedPort !== null) {
      try {
        const m = await listenMetrics(mergedMetricsHandler({ proxy: sources, appUrl: appScrapeTarget(), appProbers: this.appProbers }), host, mergedPort);
        this.servers.push(m.server);
        merged = m.port;
      } catch (err) {
        // the merged endpoint is a convenience for scrapers; the proxy runs without it
        this.mergedError = (err as Error).message;
      }
    }
    return { prometheus: prom.port, merged };
  }

  /** Loads and starts tracing when it is configured (once). */
  async startTracing(): Promise<void> {
    if (!this.tracingOptions || this.tracer) return;
    const { ProxyTracer } = await import('./tracing');
    this.tracer = new ProxyTracer(this.self, this.tracingOptions);
    this.deps.tracer = this.tracer;
  }

  async close(): Promise<void> {
    for (const s of this.servers) {
      s.close();
      s.closeAllConnections();
    }
    this.accessLog.close();
    await this.tracer?.shutdown();
  }
}
