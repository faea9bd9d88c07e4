/**
 * The discovery service: stores → validation → push context → push queue → per-proxy
 * generation → snapshot cache → ADS. Pushes are debounced; each push queues every connected
 * proxy (merged with a push it already waits for), the queue generates in slices that yield to
 * the event loop, and a proxy gets a new snapshot only when one of its resource types changed
 * (content versions), so a change reaches only the proxies it affects. Every push is recorded
 * with what triggered it, whom it reached and why, what each got and how long each step took.
 */
import * as grpc from '@grpc/grpc-js';
import {
  checkEnvoyFilterValue,
  AdsServer, SnapshotCache, SnapshotPool, TYPE_SHORT_NAME, type Node__Output, type ResourceTypeUrl, type Snapshot,
} from '@tsmesh/xds';
import { formatIssue, validateConfig, type ConfigIssue, type ConfigResource } from '@tsmesh/mesh-config';
import type { ConfigStore } from '../config/store';
import { GatewayStatusWriter } from '../config/gateway-status';
import { LastGoodConfig } from '../config/last-good';
import { partiallyAppliedPolicies } from '../xds/rbac-report';
import { PushContext, type PushOptions } from '../model/push-context';
import { completeProxy, proxyFromNode, type Proxy } from '../model/proxy';
import { generate, PushGeneration, XdsCache, type Generated, type ResourcePatch } from '../xds/generate';
import { touchedDependencies } from '../xds/gen/invalidation';
import { scopeUses } from '../xds/gen/explain';
import { Debouncer } from './debounce';
import { PushQueue, type PushRequest } from './push-queue';
import { PushRecorder, type PushSteps } from './push-record';
import { ControlPlaneMetrics } from './metrics';

/** The types EnvoyFilters patch (their NACKs name the EnvoyFilters). */
const PATCHED_SHORT = new Set(['LDS', 'RDS', 'CDS']);

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
  /** Responses written at once across streams (Istio's PILOT_PUSH_THROTTLE; default 100). */
  pushThrottle?: number;
  /** New ADS streams admitted per second (Istio's PILOT_MAX_REQUESTS_PER_SECOND; default 100; 0 = no limit). */
  maxNewStreamsPerSecond?: number;
  /** Burst of the admission limit (default: one second's worth) and the longest a new stream waits for a token before it is told to back off (ms, default 1000). */
  admissionBurst?: number;
  admissionWaitMs?: number;
  /** Longest slice of generation before the push queue yields to the event loop (ms, default 10). */
  pushSliceMs?: number;
  /** Pushes kept for /debug/push_status (default 20). */
  pushHistory?: number;
  /** Patches applied to every proxy's generated resources (the EnvoyFilter hook; see ResourcePatch). */
  patches?: ResourcePatch[];
  /** Deploys Gateway API Gateways after each rebuild (the Kubernetes GatewayDeploymentController). */
  gatewayDeployments?: { update(resources: readonly ConfigResource[]): Promise<void>; stop?(): void };
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
  /** The push whose snapshot the proxy holds now. */
  push?: number;
  /** Per type: the latest push through which the proxy holds (has ACKed) that type's config. */
  ackedThrough: Map<string, number>;
  /** Per type: the push that produced the version last set. */
  versionPush: Map<string, number>;
  /** What the EnvoyFilters selecting the proxy did at the last generation. */
  envoyFilters?: Generated['envoyFilters'];
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
  /** One snapshot per distinct generated content, shared by every proxy holding it; unchanged types keep their lists across pushes. */
  readonly snapshots = new SnapshotPool();
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
  private readonly queue: PushQueue;
  /** Push records (the last `pushHistory`). */
  readonly pushes: PushRecorder;
  /** Config keys the debouncer holds (changed, not yet pushed). */
  private debouncing = new Set<string>();
  /** When each (type, name, version) was first generated, and the push that last used it. */
  private readonly resourceSince = new Map<string, { t: number; g: number }>();
  private noted = new WeakSet<object>();
  private readonly unsubscribe: (() => void)[] = [];
  private servers: grpc.Server[] = [];
  /** Gateway API status written back to the stores after each rebuild. */
  private readonly statusWriter: GatewayStatusWriter;
  private statusWrites: Promise<void> = Promise.resolve();
  private deploymentWrites: Promise<void> = Promise.resolve();

  constructor(private readonly opts: DiscoveryOptions) {
    this.log = opts.logger ?? noop;
    this.statusWriter = new GatewayStatusWriter(opts.stores, (msg, err) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, msg));
    this.metrics = opts.metrics ?? new ControlPlaneMetrics();
    this.debouncer = new Debouncer(opts.debounceMs ?? 100, opts.debounceMaxMs ?? 10_000, (keys, first, events) => this.pushAll(keys, first, events));
    this.pushes = new PushRecorder(opts.pushHistory ?? 20);
    this.queue = new PushQueue((id, req) => this.dequeued(id, req), { sliceMs: opts.pushSliceMs ?? 10, onIdle: () => this.queueIdle() });
    this.ads = new AdsServer({
      cache: this.cache,
      identifier: 'tsmesh-control-plane',
      maxConcurrentSends: opts.pushThrottle ?? 100,
      maxNewStreamsPerSecond: opts.maxNewStreamsPerSecond ?? 100,
      admissionBurst: opts.admissionBurst,
      admissionWaitMs: opts.admissionWaitMs,
      hooks: {
        onSent: (id, sent) => {
          const type = TYPE_SHORT_NAME[sent.typeUrl as ResourceTypeUrl]?.toLowerCase() ?? sent.typeUrl;
          this.metrics.sentBytes.inc({ type }, sent.bytes);
          this.metrics.configSize.observe(sent.bytes, { type });
          const e = this.proxies.get(id);
          if (e?.push !== undefined) this.pushes.sent(e.push, id, sent);
        },
        onRateLimited: (peer) => {
          this.metrics.rateLimited.inc();
          this.log.debug?.({ peer }, 'new stream over the admission rate; told to back off');
        },
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
    for (const s of this.opts.stores) {
      this.unsubscribe.push(s.onChange((keys) => {
        for (const k of keys) this.debouncing.add(k);
        this.debouncer.add(keys.size ? keys : ['<issues>']);
      }));
    }
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
    this.queue.stop();
    for (const u of this.unsubscribe) u();
    this.opts.gatewayDeployments?.stop?.();
    await this.ads.close();
    for (const s of this.servers) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { s.forceShutdown(); resolve(); }, 1000);
        s.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    }
    await Promise.all(this.opts.stores.map((s) => s.stop()));
  }

  /** Resolves once the Gateway API status of the latest rebuild is written. */
  gatewayStatusWritten(): Promise<void> {
    return this.statusWrites;
  }

  /** Resolves once the Gateway deployments of the latest rebuild are applied. */
  gatewayDeploymentsApplied(): Promise<void> {
    return this.deploymentWrites;
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

  /** What the EnvoyFilters selecting a proxy did to its resources, if any select it. */
  envoyFilterReport(id: string): Generated['envoyFilters'] {
    return this.proxies.get(id)?.envoyFilters;
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
          ...(s.lastNack ? { nack: {
            version: s.lastNack.version, message: s.lastNack.message, at: s.lastNack.at.toISOString(),
            // a NACK of patched resources names the EnvoyFilters that patched them
            ...(e?.envoyFilters && PATCHED_SHORT.has(short) ? { envoyFilters: e.envoyFilters.filters } : {}),
          } } : {}),
        };
      }
      return {
        proxy: n.nodeId, kind: e?.base.kind, namespace: e?.base.namespace, pod: e?.base.podName, ip: e?.base.ip,
        connectedAt: n.connectedAt?.toISOString(), pushVersion: this.push?.version, types,
        ...(e?.envoyFilters ? { envoyFilters: e.envoyFilters.filters } : {}),
      };
    });
  }

  /** Pushes as `/debug/push_status` serves them: the last push's summary, the queue, and the recorded pushes. */
  pushStatus(o: { proxy?: string; limit?: number; targets?: boolean } = {}): object {
    return { ...(this.lastPush ?? {}), queue: { waiting: this.queue.size }, sends: this.ads.sendQueue(), pushes: this.pushes.list(o) };
  }

  /** One proxy (node id, or `pod.namespace`, or pod name): status, every resource with its version and when it last changed, and the pushes that reached it. */
  proxyDetail(ref: string): object | undefined {
    const id = this.resolveProxy(ref);
    if (!id) return undefined;
    const entry = this.proxyStatus().find((x) => (x as { proxy: string }).proxy === id) as Record<string, unknown> | undefined;
    const snap = this.cache.getSnapshot(id);
    const now = Date.now();
    const resources: object[] = [];
    if (snap) {
      for (const t of Object.keys(TYPE_SHORT_NAME) as ResourceTypeUrl[]) {
        for (const r of snap.resources(t).values()) {
          const since = this.resourceSince.get(`${t}\0${r.name}\0${r.version}`)?.t;
          resources.push({ type: TYPE_SHORT_NAME[t], name: r.name, version: r.version, bytes: r.any.value.length, ...(since ? { changedAt: new Date(since).toISOString(), sinceMs: now - since } : {}) });
        }
      }
    }
    const e = this.proxies.get(id);
    return {
      ...(entry ?? { proxy: id }),
      push: e?.push, ackedThrough: e ? Object.fromEntries([...e.ackedThrough].map(([t, n]) => [TYPE_SHORT_NAME[t as ResourceTypeUrl] ?? t, n])) : {},
      resources,
      pushes: this.pushes.list({ proxy: id }).filter((p) => p.targets.length).map((p) => ({ push: p.push, version: p.version, at: p.at, trigger: p.trigger, target: p.targets[0] })),
    };
  }

  /**
   * Whether a config change has landed everywhere: for `Kind/ns/name`, the push that carried its
   * last change, the proxies that push reached, and which of them have ACKed every type it
   * changed for them (what `tsmesh wait` polls). `pending` while the change waits in the debouncer.
   */
  configStatus(key: string): { resource: string; state: 'pending' | 'pushing' | 'synced' | 'waiting' | 'unknown'; push?: number; version?: string; affected: number; acked: number; waiting: string[] } {
    if (this.debouncing.has(key)) return { resource: key, state: 'pending', affected: 0, acked: 0, waiting: [] };
    const n = this.pushes.pushesOf(key)[0];
    const rec = n !== undefined ? this.pushes.get(n) : undefined;
    if (!rec) {
      // Not changed in the recorded pushes: it landed when every proxy using it holds what it was sent.
      if (!this.byKey.has(key)) return { resource: key, state: 'unknown', affected: 0, acked: 0, waiting: [] };
      const push = this.generation?.push;
      const affected = push ? [...this.proxies.values()].filter((e) => e.completed && scopeUses(push, e.completed, key)) : [];
      const waiting = affected.filter((e) => e.pending).map((e) => e.base.id);
      return { resource: key, state: waiting.length ? 'waiting' : 'synced', version: this.push?.version, affected: affected.length, acked: affected.length - waiting.length, waiting };
    }
    if (this.queue.size && !rec.record.durationMs) return { resource: key, state: 'pushing', push: n, version: rec.record.version, affected: rec.targets.size, acked: 0, waiting: [] };
    const waiting: string[] = [];
    let affected = 0;
    for (const [id, t] of rec.targets) {
      const e = this.proxies.get(id);
      if (!e) continue; // disconnected: it gets the current config when it comes back
      affected += 1;
      const types = t.types.map((x) => (Object.keys(TYPE_SHORT_NAME) as ResourceTypeUrl[]).find((u) => TYPE_SHORT_NAME[u] === x)!);
      if (!types.every((u) => (e.ackedThrough.get(u) ?? -1) >= n)) waiting.push(id);
    }
    return { resource: key, state: waiting.length ? 'waiting' : 'synced', push: n, version: rec.record.version, affected, acked: affected - waiting.length, waiting };
  }

  private resolveProxy(ref: string): string | undefined {
    if (this.proxies.has(ref)) return ref;
    for (const [id, e] of this.proxies) if (`${e.base.podName}.${e.base.namespace}` === ref || e.base.podName === ref) return id;
    return undefined;
  }

  /** Notes when each resource version was first generated (shared lists once per push). */
  private noteResources(g: Generated): void {
    const now = Date.now();
    for (const t of Object.keys(g.resources) as ResourceTypeUrl[]) {
      const list = g.resources[t];
      if (this.noted.has(list)) continue;
      this.noted.add(list);
      for (const r of list) {
        const k = `${t}\0${r.name}\0${r.version}`;
        const hit = this.resourceSince.get(k);
        if (hit) hit.g = this.counter;
        else this.resourceSince.set(k, { t: now, g: this.counter });
      }
    }
  }

  private nextVersion(): string {
    this.counter += 1;
    return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}/${this.counter}`;
  }

  /** Validates everything the stores hold and builds a new push context. */
  private rebuild(trigger: string[], _first: number): PushContext {
    return this.rebuildWith(trigger).push;
  }

  private rebuildWith(trigger: string[]): { push: PushContext; before: Map<string, ConfigResource>; steps: PushSteps } {
    const t0 = performance.now();
    const all: ConfigResource[] = [];
    const readIssues: ConfigIssue[] = [];
    for (const s of this.opts.stores) {
      all.push(...s.list());
      readIssues.push(...s.readIssues());
    }
    const before = this.byKey;
    // Rejected updates keep their last accepted version; rejected security policies fail closed.
    const v = this.lastGood.apply(all, (rs) => validateConfig(rs, { domain: this.opts.push?.domain, checkEnvoyFilterValue }));
    this.byKey = new Map(v.serve.map((r) => [r.key, r]));
    this.statusWrites = this.statusWriter.update(v.serve);
    this.deploymentWrites = this.opts.gatewayDeployments?.update(v.serve) ?? this.deploymentWrites;
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
    const t1 = performance.now();
    const previous = this.push;
    this.push = PushContext.next(previous, v.serve, this.nextVersion(), this.opts.push, trigger);
    // Valid policies that cannot apply in full where they land (HTTP-only parts on TCP ports).
    const partial = partiallyAppliedPolicies(this.push);
    for (const i of partial) if (!known.has(formatIssue(i))) this.log.warn({ issue: i }, `config warning: ${formatIssue(i)}`);
    this.issues = [...issues, ...partial];
    const t2 = performance.now();
    const touched = touchedDependencies({ keys: trigger, before, after: this.byKey, previous, current: this.push });
    let evicted: number | 'all';
    if (touched === 'all') {
      this.xdsCache.clearAll();
      evicted = 'all';
    } else {
      evicted = this.xdsCache.clear(touched);
    }
    this.generation = new PushGeneration(this.push, this.xdsCache, this.opts.patches ?? []);
    const t3 = performance.now();
    this.metrics.services.set(this.push.registry.services.length);
    this.metrics.virtualServices.set(v.serve.filter((r) => r.kind === 'VirtualService').length);
    for (const key of trigger) {
      const slash = key.indexOf('/');
      if (slash <= 0) continue;
      const event = !before.has(key) ? 'add' : this.byKey.has(key) ? 'update' : 'delete';
      if (event === 'add' && !this.byKey.has(key)) continue;
      this.metrics.cfgEvents.inc({ type: key.slice(0, slash), event });
    }
    this.metrics.fullPushTime.observe((t3 - t0) / 1000);
    this.log.info({ version: this.push.version, resources: v.serve.length, rejected: v.rejected.size, trigger: trigger.slice(0, 5) }, 'push context built');
    return { push: this.push, before, steps: { validateMs: t1 - t0, pushContextMs: t2 - t1, invalidateMs: t3 - t2, evicted } };
  }

  private pushAll(keys: Set<string>, firstChangeAt: number, events: number): void {
    const t0 = performance.now();
    const trigger = [...keys];
    this.debouncing = new Set([...this.debouncing].filter((k) => !keys.has(k)));
    for (const k of trigger) this.metrics.triggers.inc({ type: k === '<issues>' ? 'config' : k.split('/')[0] });
    const steps = this.rebuildWith(trigger).steps;
    const n = this.counter;
    this.pushes.begin({ push: n, version: this.push!.version, trigger, events, firstChangeAt, proxies: this.proxies.size, steps, evicted: steps.evicted, t0 });
    for (const id of this.proxies.keys()) this.queue.enqueue(id, n, keys, firstChangeAt);
    this.metrics.queueSize.set(this.queue.size);
    if (!this.proxies.size) this.queueIdle();
  }

  /** The push queue hands a proxy over: generate with the current push and set its snapshot. */
  private dequeued(id: string, req: PushRequest): void {
    const e = this.proxies.get(id);
    if (!e) return;
    this.metrics.queueTime.observe((Date.now() - req.queuedAt) / 1000);
    this.update(id, e, req);
  }

  /** Every queued proxy was generated: sweep the cache, close the push records. */
  private queueIdle(): void {
    this.metrics.queueSize.set(0);
    this.xdsCache.sweep();
    this.snapshots.sweep();
    for (const [k, v] of this.resourceSince) if (v.g < this.counter - 1) this.resourceSince.delete(k);
    this.noted = new WeakSet();
    const r = this.pushes.finishGeneration(this.counter);
    if (r) {
      this.lastPush = { version: r.version, at: r.at, trigger: r.trigger.slice(0, 20), proxies: r.proxies, pushed: r.pushed, durationMs: r.durationMs };
      this.log.info({ ...this.lastPush, steps: r.steps }, 'push done');
    }
  }

  /** Generates a proxy's resources; sets a new snapshot when any type changed. Returns whether it did. */
  private update(id: string, e: ProxyEntry, req?: PushRequest): boolean {
    const t0 = performance.now();
    const g0 = this.generation!;
    const n = this.counter;
    let g: Generated;
    let proxy: Proxy;
    try {
      proxy = completeProxy(e.base, g0.push);
      g = generate(g0, proxy);
      e.completed = proxy;
    } catch (err) {
      this.log.error({ proxy: id, err: (err as Error).message }, 'generating config failed; proxy keeps its last config');
      this.pushes.failed(n, id, (err as Error).message);
      return false;
    }
    const generateMs = performance.now() - t0;
    this.noteResources(g);
    const changed = (Object.keys(g.versions) as ResourceTypeUrl[]).filter((t) => e.versions?.[t] !== g.versions[t]);
    if (g.envoyFilters && g.envoyFilters !== e.envoyFilters) {
      const r = g.envoyFilters;
      if (r.error) this.log.error({ proxy: id, envoyFilters: r.filters }, r.error);
      for (const u of r.unmatched) this.log.warn({ proxy: id }, u);
    }
    e.envoyFilters = g.envoyFilters;
    // Types that did not change are held through this push once the proxy holds their version.
    for (const t of Object.keys(g.versions) as ResourceTypeUrl[]) if (!changed.includes(t) && this.ads.status.get(id)?.types.get(t)?.ackedVersion === g.versions[t]) e.ackedThrough.set(t, n);
    if (!changed.length) {
      // Keep the proxy's lists in the pool for the next push (their maps stay the same objects).
      try { this.snapshots.snapshot(g.versions, g.resources); } catch { /* reported when it changes */ }
      if (e.pending === undefined) e.push = n;
      this.pushes.generated(n, generateMs, false);
      return false;
    }
    const t1 = performance.now();
    try {
      this.cache.setSnapshot(id, this.snapshots.snapshot(g.versions, g.resources));
    } catch (err) {
      this.log.error({ proxy: id, err: (err as Error).message }, 'snapshot is inconsistent; proxy keeps its last config');
      this.pushes.failed(n, id, (err as Error).message);
      return false;
    }
    e.versions = g.versions;
    e.push = n;
    for (const t of changed) e.versionPush.set(t, n);
    for (const t of changed) this.metrics.pushes.inc({ type: TYPE_SHORT_NAME[t].toLowerCase() });
    this.metrics.pushTime.observe((performance.now() - t0) / 1000);
    this.pushes.generated(n, generateMs, true, performance.now() - t1);
    this.pushes.target(n, id, {
      why: req ? this.why(proxy, g, req) : 'connected',
      types: changed.map((t) => TYPE_SHORT_NAME[t]),
      merged: req && req.pushes.length > 1 ? req.pushes : undefined,
    });
    if (req?.since !== undefined || e.pending) {
      const types = new Map<string, string>(changed.filter((t) => g.resources[t].length || e.pending?.types.has(t)).map((t) => [t, g.versions[t]]));
      e.pending = types.size ? { since: e.pending?.since ?? req?.since ?? Date.now(), types } : undefined;
    }
    return true;
  }

  /** Why a proxy was pushed: the changed config its resources are built from, as far as its scope tells. */
  private why(proxy: Proxy, g: Generated, req: PushRequest): string {
    const triggers = [...req.triggers].filter((t) => t !== '<issues>');
    const seen = triggers.filter((t) => scopeUses(this.generation!.push, proxy, t));
    const list = (seen.length ? seen : triggers).slice(0, 3).join(', ') + ((seen.length || triggers.length) > 3 ? ', …' : '');
    if (!triggers.length) return 'full push (config issues changed)';
    return seen.length ? `its ${proxy.kind} scope (${g.scope.length > 80 ? proxy.namespace : g.scope}) uses ${list}` : `its generated config changed after ${list}`;
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
      e = { node, base, ackedThrough: new Map(), versionPush: new Map() };
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
    this.queue.remove(id);
    this.cache.clearSnapshot(id);
    this.metrics.connected.set(this.proxies.size);
    this.log.info({ proxy: id }, 'proxy disconnected');
  }

  private acked(id: string, typeUrl: string, version: string): void {
    const e = this.proxies.get(id);
    if (e && e.versions?.[typeUrl as ResourceTypeUrl] === version) {
      e.ackedThrough.set(typeUrl, Math.max(e.push ?? 0, e.versionPush.get(typeUrl) ?? 0));
      if (e.push !== undefined) this.pushes.acked(e.versionPush.get(typeUrl) ?? e.push, id, TYPE_SHORT_NAME[typeUrl as ResourceTypeUrl] ?? typeUrl);
    }
    const p = e?.pending;
    if (!p || p.types.get(typeUrl) !== version) return;
    p.types.delete(typeUrl);
    if (p.types.size === 0) {
      this.metrics.convergence.observe((Date.now() - p.since) / 1000);
      e!.pending = undefined;
    }
  }
}
