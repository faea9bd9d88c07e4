/**
 * The proxy process: xDS client, config applier, cluster and listener managers, admin and
 * readiness servers, and graceful drain (stop accepting, finish in-flight requests, exit).
 */
import type http from 'node:http';
import pino, { type Logger } from 'pino';
import { AdsClient, DeltaAdsClient, TYPE_SHORT_NAME, type ResourceTypeUrl } from '@tsmesh/xds';
import { ClusterManager } from '../cluster/manager';
import { ListenerManager } from '../listener/manager';
import type { RouteTable } from '../config/route';
import type { ProxyContext } from '../context';
import { Stats } from '../stats';
import { XdsConfig } from './xds-config';
import { HeapCompaction } from './heap-compaction';
import { xdsNode, type Bootstrap } from './bootstrap';
import { adminHandler, listenAdmin, prometheusText, readinessHandler, type AdminSource } from '../admin/admin';
import { ProxySecurity } from '../security/proxy-security';
import { registerSecurityFilters } from '../authz/register';
import { registerHttpFilters } from '../filters/register';
import { ProxyTelemetry } from '../telemetry/proxy-telemetry';

registerSecurityFilters();
registerHttpFilters();

/** A running proxy. */
export class Proxy {
  readonly log: Logger;
  readonly ctx: ProxyContext;
  readonly listeners: ListenerManager;
  readonly xds: XdsConfig;
  readonly client: AdsClient;
  /** The Delta xDS stream for VHDS, opened once a route table carries `vhds`. */
  readonly vhdsClient: DeltaAdsClient;
  adminPort = 0;
  statusPort = 0;
  prometheusPort = 0;
  mergedMetricsPort = 0;
  readonly security: ProxySecurity;
  readonly telemetry: ProxyTelemetry;
  readonly heap: HeapCompaction;
  private readonly clusters = new ClusterManager();
  private readonly routes = new Map<string, RouteTable>();
  private readonly servers: http.Server[] = [];
  private draining = false;
  private stopped = false;
  private drainPromise: Promise<void> | null = null;

  constructor(readonly boot: Bootstrap, log?: Logger) {
    this.log = log ?? pino({ level: boot.logLevel, base: { node: boot.nodeId } });
    this.security = new ProxySecurity({
      caAddress: boot.caAddress, caRootFile: boot.caRootFile, tokenFile: boot.tokenFile, trustDomain: boot.trustDomain,
      namespace: boot.namespace, serviceAccount: boot.serviceAccount, ttlSeconds: boot.secretTtlSeconds,
      caServerName: boot.caAddress ? boot.caAddress.replace(/:\d+$/, '') : undefined,
    }, this.log);
    this.telemetry = new ProxyTelemetry({
      pod: boot.podName, namespace: boot.namespace, labels: boot.labels, serviceAccount: boot.serviceAccount, trustDomain: boot.trustDomain,
      workloadName: boot.workloadName || undefined, cluster: boot.clusterId, nodeId: boot.nodeId, accessLog: boot.accessLog,
      tracing: boot.tracingOtlp ? { otlpEndpoint: boot.tracingOtlp, samplingPercent: boot.traceSampling } : null,
    });
    this.ctx = { clusters: this.clusters, routes: this.routes, stats: new Stats(), activeRequests: 0, draining: false, telemetry: this.telemetry.deps };
    this.listeners = new ListenerManager(this.ctx);
    this.client = new AdsClient({ server: boot.discoveryAddress, node: xdsNode(boot), backoff: { initialMs: 200, maxMs: 10_000 } });
    this.vhdsClient = new DeltaAdsClient({ server: boot.discoveryAddress, node: xdsNode(boot), backoff: { initialMs: 200, maxMs: 10_000 } });
    this.xds = new XdsConfig(this.client, this.clusters, this.listeners, this.routes, this.security, this.vhdsClient);
    this.heap = new HeapCompaction({ quietMs: boot.heapCompactionQuietMs });
    this.xds.on('applied', (t: ResourceTypeUrl, v: string) => {
      this.log.info({ type: TYPE_SHORT_NAME[t], version: v }, 'config applied');
      this.heap.configApplied();
    });
    this.xds.on('rejected', (t: ResourceTypeUrl, v: string, m: string) => this.log.warn({ type: TYPE_SHORT_NAME[t], version: v, reason: m }, 'config rejected (NACK)'));
    this.xds.on('ready', () => this.log.info('first config applied: ready'));
    this.client.on('disconnected', (err?: Error) => this.log.warn({ err: err?.message }, 'xDS stream lost'));
    this.client.on('connected', () => this.log.info({ server: boot.discoveryAddress }, 'xDS stream up'));
  }

  /** PRE_INITIALIZING until the first config is applied; DRAINING after SIGTERM. */
  state(): 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING' {
    if (this.draining) return 'DRAINING';
    // with a CA, not ready before the workload certificate is in hand
    if (this.security.agent && !this.security.agent.status()) return 'PRE_INITIALIZING';
    return this.xds.ready() ? 'LIVE' : 'PRE_INITIALIZING';
  }

  /** Starts admin, readiness and the xDS stream. */
  async start(): Promise<void> {
    const src: AdminSource = {
      ctx: this.ctx,
      xds: this.xds,
      listeners: this.listeners,
      log: this.log,
      nodeId: this.boot.nodeId,
      bootstrap: () => ({ ...this.boot, adminPort: this.adminPort || this.boot.adminPort }),
      secrets: this.security.store,
      startedAt: new Date(),
      state: () => this.state(),
      heap: this.heap,
      quit: () => void this.shutdown(),
    };
    const admin = await listenAdmin(adminHandler(src), this.boot.adminHost, this.boot.adminPort);
    this.servers.push(admin.server);
    this.adminPort = admin.port;
    const status = await listenAdmin(readinessHandler(src), '0.0.0.0', this.boot.statusPort);
    this.servers.push(status.server);
    this.statusPort = status.port;
    this.telemetry.extra.push(() => prometheusText(src));
    const ports = await this.telemetry.listen('0.0.0.0', this.boot.prometheusPort, this.boot.mergedMetricsPort);
    this.prometheusPort = ports.prometheus;
    this.mergedMetricsPort = ports.merged ?? 0;
    if (this.telemetry.mergedError) this.log.warn({ port: this.boot.mergedMetricsPort, err: this.telemetry.mergedError }, 'merged metrics endpoint not started');
    // the workload certificate is fetched alongside the config; TLS waits for it
    this.security.start().catch((err: Error) => this.log.error({ err: err.message }, 'certificate agent stopped'));
    this.xds.start();
    this.client.start();
    this.log.info({ admin: this.adminPort, status: this.statusPort, prometheus: this.prometheusPort, xds: this.boot.discoveryAddress }, 'proxy started');
  }

  /** Resolves once ready (first config applied). */
  whenReady(): Promise<void> {
    if (this.xds.ready()) return Promise.resolve();
    return new Promise((resolve) => this.xds.once('ready', resolve));
  }

  /**
   * Graceful drain: not ready, listeners closed, HTTP/1 keep-alive connections closed after their
   * current response, HTTP/2 GOAWAY; waits for in-flight requests up to the drain duration.
   */
  drain(): Promise<void> {
    if (this.drainPromise) return this.drainPromise;
    this.draining = true;
    this.ctx.draining = true;
    this.listeners.drain();
    this.log.info({ active: this.ctx.activeRequests, drainMs: this.boot.drainMs }, 'draining');
    const deadline = Date.now() + this.boot.drainMs;
    this.drainPromise = new Promise<void>((resolve) => {
      const tick = () => {
        this.listeners.drainTick();
        if (this.ctx.activeRequests <= 0 || Date.now() >= deadline) {
          resolve();
          return;
        }
        setTimeout(tick, 50);
      };
      tick();
    });
    return this.drainPromise;
  }

  /** Drains, then closes everything. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    await this.drain();
    this.stop();
  }

  /** Closes everything now. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.client.close();
    this.vhdsClient.close();
    this.listeners.close();
    this.clusters.close();
    this.security.stop();
    this.heap.stop();
    void this.telemetry.close();
    for (const s of this.servers) {
      s.close();
      s.closeAllConnections();
    }
    this.log.info('proxy stopped');
  }
}
