/**
 * The discovery service: stores → validation → push context → per-proxy generation → snapshot
 * cache → ADS. Pushes are debounced; a proxy gets a new snapshot only when one of its resource
 * types changed (content versions), so a change reaches only the proxies it affects.
 */
import * as grpc from '@grpc/grpc-js';
import {
  AdsServer, SnapshotCache, snapshotFromEncoded, TYPE_SHORT_NAME, type Node__Output, type ResourceTypeUrl, type Snapshot,
} from '@tsmesh/xds';
import { formatIssue, validateConfig, type ConfigIssue, type ConfigResource } from '@tsmesh/mesh-config';
import type { ConfigStore } from '../config/store';
import { LastGoodConfig } from '../config/last-good';
import { PushContext, type PushOptions } from '../model/push-context';
import { completeProxy, proxyFromNode, type Proxy } from '../model/proxy';
import { generate, PushGeneration, XdsCache, type Generated } from '../xds/generate';
import { touchedDependencies } from '../xds/gen/invalidation';
import { Debouncer } from './debounce';
import { ControlPlaneMetrics } from './metrics';

/** Logger interface (pino-compatible subset). */
export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug?(obj: object | string, msg?: string): void;
}

/** Options of {@link Discovery}. */
export interface DiscoveryOptions {
  stores: ConfigStore[];
  debounceMs?: number;
  debounceMaxMs?: number;
  push?: Partial<PushOptions>;
  logger?: Logger;
  metrics?: ControlPlaneMetrics;
}

/** A connected proxy. */
interface ProxyEntry {
  node: Node__Output;
  base: Proxy;
  /** The proxy as completed from the registry at the last generation. */
  completed?: Proxy;
  versions?: Generated['versions'];
  /** Types pushed in the last push and not yet ACKed, with the time of the change that caused it. */
  pending?: { since: number; types: Map<string, string> };
}

/** Summary of one push, for status. */
export interface PushSummary {
  version: string;
  at: string;
  trigger: string[];
  proxies: number;
  pushed: number;
  durationMs: number;
}

const noop: Logger = { info() {}, warn() {}, error() {} };

/** The control plane core. */
export class Discovery {
  readonly cache = new SnapshotCache();
  readonly ads: AdsServer;
  readonly metrics: ControlPlaneMetrics;
  private readonly log: Logger;
  private readonly proxies = new Map<string, ProxyEntry>();
  private readonly debouncer: Debouncer;
  private push?: PushContext;
  /** Encoded resources across pushes, by typed key (evicted by dependency). */
  readonly xdsCache = new XdsCache();
  private generation?: PushGeneration;
  private issues: ConfigIssue[] = [];
  private readonly lastGood = new LastGoodConfig();
  private byKey = new Map<string, ConfigResource>();
  private counter = 0;
  private lastPush?: PushSummary;
  private readonly unsubscribe: (() => void)[] = [];
  private servers: grpc.Server[] = [];

  constructor(private readonly opts: DiscoveryOptions) {
    this.log = opts.logger ?? noop;
    this.metrics = opts.metrics ?? new ControlPlaneMetrics();
    this.debouncer = new Debouncer(opts.debounceMs ?? 100, opts.debounceMaxMs ?? 10_000, (keys, first, events) => this.pushAll(keys, first, events));
    this.ads = new AdsServer({
      cache: this.cache,
      identifier: 'tsmesh-control-plane',
      hooks: {
        onStreamOpen: (node) => this.connect(node),
        onStreamClose: (id) => this.disconnect(id),
        onAck: (id, typeUrl, version) => this.acked(id, typeUrl, version),
        onNack: (id, typeUrl, version, detail) => {
          this.metrics.nacks.inc({ type: TYPE_SHORT_NAME[typeUrl as ResourceTypeUrl]?.toLowerCase() ?? typeUrl });
          this.log.warn({ proxy: id, type: TYPE_SHORT_NAME[typeUrl as ResourceTypeUrl], version, error: detail.message }, 'proxy rejected config');
        },
      },
    });
  }

  /** Starts the stores and builds the first push context. */
  async start(): Promise<void> {
    for (const s of this.opts.stores) this.unsubscribe.push(s.onChange((keys) => this.debouncer.add(keys.size ? keys : ['<issues>'])));
    await Promise.all(this.opts.stores.map((s) => s.start()));
    this.rebuild(['initial'], Date.now());
  }

  /** Serves ADS on `address` (port 0 picks one); returns the port. */
  async listen(address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1, 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 256 * 1024 * 1024 });
    this.ads.register(server);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))));
    this.servers.push(server);
    return port;
  }

  async stop(): Promise<void> {
    this.debouncer.stop();
    for (const u of this.unsubscribe) u();
    await this.ads.close();
    for (const s of this.servers) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { s.forceShutdown(); resolve(); }, 1000);
        s.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    }
    await Promise.all(this.opts.stores.map((s) => s.stop()));
  }

  /** Current validation and read issues. */
  configIssues(): ConfigIssue[] {
    return this.issues;
  }

  /** The current push context. */
  pushContext(): PushContext | undefined {
    return this.push;
  }

  /** The last push. */
  lastPushSummary(): PushSummary | undefined {
    return this.lastPush;
  }

  /** Connected proxies with their kind and namespace. */
  connectedProxies(): Proxy[] {
    return [...this.proxies.values()].map((e) => e.base);
  }

  /** The current snapshot of a proxy (for config dumps). */
  snapshotOf(id: string): Snapshot | undefined {
    return this.cache.getSnapshot(id);
  }

  /** Proxy status: each proxy with sent / ACKed / NACKed versions per type (what `tsmesh proxy-status` prints). */
  proxyStatus(): object[] {
    return this.ads.status.all().filter((n) => n.streams > 0).map((n) => {
      const e = this.proxies.get(n.nodeId);
      const types: Record<string, object> = {};
      for (const [t, s] of n.types) {
        const short = TYPE_SHORT_NAME[t as ResourceTypeUrl] ?? t;
        const synced = s.sentVersion !== undefined && s.sentVersion === s.ackedVersion;
        const state = s.lastNack && s.lastNack.version === s.sentVersion ? 'NACKED' : synced ? 'SYNCED' : s.sentVersion ? 'STALE' : 'NOT SENT';
        types[short] = {
          state, sent: s.sentVersion, acked: s.ackedVersion, sentAt: s.sentAt?.toISOString(), ackedAt: s.ackedAt?.toISOString(),
          ...(s.lastNack ? { nack: { version: s.lastNack.version, message: s.lastNack.message, at: s.lastNack.at.toISOString() } } : {}),
        };
      }
      return {
        proxy: n.nodeId, kind: e?.base.kind, namespace: e?.base.namespace, pod: e?.base.podName, ip: e?.base.ip,
        connectedAt: n.connectedAt?.toISOString(), pushVersion: this.push?.version, types,
      };
    });
  }

  private nextVersion(): string {
    this.counter += 1;
    return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}/${this.counter}`;
  }

  /** Validates everything the stores hold and builds a new push context. */
  private rebuild(trigger: string[], _first: number): PushContext {
    return this.rebuildWith(trigger).push;
  }

  private rebuildWith(trigger: string[]): { push: PushContext; before: Map<string, ConfigResource> } {
    const t0 = performance.now();
    const all: ConfigResource[] = [];
    const readIssues: ConfigIssue[] = [];
    for (const s of this.opts.stores) {
      all.push(...s.list());
      readIssues.push(...s.readIssues());
    }
    const before = this.byKey;
    // Rejected updates keep their last accepted version; rejected security policies fail closed.
    const v = this.lastGood.apply(all, (rs) => validateConfig(rs, { domain: this.opts.push?.domain }));
    this.byKey = new Map(v.serve.map((r) => [r.key, r]));
    const issues = [...readIssues, ...v.issues];
    const known = new Set(this.issues.map(formatIssue));
    for (const i of issues) {
      const text = formatIssue(i);
      if (!known.has(text)) {
        this.metrics.validationFailures.inc({ kind: i.resource.split(' ')[0] });
        (i.severity === 'error' ? this.log.error : this.log.warn).call(this.log, { issue: i }, i.severity === 'error' ? `rejected config: ${text}` : `config warning: ${text}`);
      }
    }
    this.issues = issues;
    this.metrics.rejectedConfigs.set(v.rejected.size + readIssues.filter((i) => i.severity === 'error').length);
    this.metrics.rejectedByHandling.clear();
    for (const [key, handling] of v.rejected) {
      const kind = key.slice(0, key.indexOf('/'));
      this.metrics.rejectedByHandling.set(this.metrics.rejectedByHandling.get({ kind, handling }) + 1, { kind, handling });
    }
    const previous = this.push;
    this.push = new PushContext(v.serve, this.nextVersion(), this.opts.push);
    const touched = touchedDependencies({ keys: trigger, before, after: this.byKey, previous, current: this.push });
    if (touched === 'all') this.xdsCache.clearAll();
    else this.xdsCache.clear(touched);
    this.generation = new PushGeneration(this.push, this.xdsCache);
    this.metrics.services.set(this.push.registry.services.length);
    this.metrics.fullPushTime.observe((performance.now() - t0) / 1000);
    this.log.info({ version: this.push.version, resources: v.serve.length, rejected: v.rejected.size, trigger: trigger.slice(0, 5) }, 'push context built');
    return { push: this.push, before };
  }

  private pushAll(keys: Set<string>, firstChangeAt: number, events: number): void {
    const t0 = performance.now();
    const trigger = [...keys];
    for (const k of trigger) this.metrics.triggers.inc({ type: k === '<issues>' ? 'config' : k.split('/')[0] });
    const { push } = this.rebuildWith(trigger);
    let pushed = 0;
    for (const [id, e] of this.proxies) if (this.update(id, e, firstChangeAt)) pushed += 1;
    this.xdsCache.sweep();
    this.lastPush = { version: push.version, at: new Date().toISOString(), trigger: trigger.slice(0, 20), proxies: this.proxies.size, pushed, durationMs: Math.round(performance.now() - t0) };
    this.log.info({ ...this.lastPush, events }, 'push done');
  }

  /** Generates a proxy's resources; sets a new snapshot when any type changed. Returns whether it did. */
  private update(id: string, e: ProxyEntry, changeAt?: number): boolean {
    const t0 = performance.now();
    let g: Generated;
    try {
      const proxy = completeProxy(e.base, this.generation!.push);
      g = generate(this.generation!, proxy);
      e.completed = proxy;
    } catch (err) {
      this.log.error({ proxy: id, err: (err as Error).message }, 'generating config failed; proxy keeps its last config');
      return false;
    }
    const changed = (Object.keys(g.versions) as ResourceTypeUrl[]).filter((t) => e.versions?.[t] !== g.versions[t]);
    if (!changed.length) return false;
    try {
      this.cache.setSnapshot(id, snapshotFromEncoded(g.versions, g.resources));
    } catch (err) {
      this.log.error({ proxy: id, err: (err as Error).message }, 'snapshot is inconsistent; proxy keeps its last config');
      return false;
    }
    e.versions = g.versions;
    for (const t of changed) this.metrics.pushes.inc({ type: TYPE_SHORT_NAME[t].toLowerCase() });
    this.metrics.pushTime.observe((performance.now() - t0) / 1000);
    if (changeAt !== undefined) {
      const types = new Map<string, string>(changed.filter((t) => g.resources[t].length || e.pending?.types.has(t)).map((t) => [t, g.versions[t]]));
      e.pending = types.size ? { since: e.pending?.since ?? changeAt, types } : undefined;
    }
    return true;
  }

  private connect(node: Node__Output): void {
    let base: Proxy;
    try {
      base = proxyFromNode(node);
    } catch (err) {
      this.log.warn({ node: node.id, err: (err as Error).message }, 'proxy with an unusable node id; it gets no config');
      return;
    }
    let e = this.proxies.get(node.id);
    if (!e) {
      e = { node, base };
      this.proxies.set(node.id, e);
      this.log.info({ proxy: node.id, kind: base.kind }, 'proxy connected');
    }
    this.metrics.connected.set(this.proxies.size);
    if (this.generation && !this.cache.getSnapshot(node.id)) this.update(node.id, e);
  }

  private disconnect(id: string): void {
    const st = this.ads.status.get(id);
    if (st && st.streams > 0) return;
    this.proxies.delete(id);
    this.cache.clearSnapshot(id);
    this.metrics.connected.set(this.proxies.size);
    this.log.info({ proxy: id }, 'proxy disconnected');
  }

  private acked(id: string, typeUrl: string, version: string): void {
    const e = this.proxies.get(id);
    const p = e?.pending;
    if (!p || p.types.get(typeUrl) !== version) return;
    p.types.delete(typeUrl);
    if (p.types.size === 0) {
      this.metrics.convergence.observe((Date.now() - p.since) / 1000);
      e!.pending = undefined;
    }
  }
}
