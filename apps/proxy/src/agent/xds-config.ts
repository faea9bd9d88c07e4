/**
 * Applies xDS updates: compiles each pushed type into runtime tables once per version, rejects
 * (NACKs, with resource, field and reason) whatever cannot be applied faithfully while the last
 * good config keeps serving, and keeps EDS/RDS subscriptions in step with CDS/LDS.
 */
import { EventEmitter } from 'node:events';
import { ResourceRejectedError, TypeUrl, TYPE_SHORT_NAME, unpack, type AdsClient, type XdsUpdate, type Cluster__Output, type ClusterLoadAssignment__Output, type Listener__Output, type RouteConfiguration__Output, type ResourceTypeUrl } from '@tsmesh/xds';
import { ConfigError } from '../config/errors';
import { compileCluster, compileLoadAssignment, type ClusterSpec, type EndpointSet } from '../config/cluster';
import { compileListener, type ListenerSpec } from '../config/listener';
import { compileRouteTable, referencedClusters, type RouteTable } from '../config/route';
import type { ClusterManager } from '../cluster/manager';
import type { ListenerManager } from '../listener/manager';
import type { ProxySecurity } from '../security/proxy-security';
import { secretsOf, withSecretStore } from '../security/transport';
import type { TransportSocketFactory } from '../config/transport';

/** What /config_dump shows per type. */
export interface TypeDump {
  version: string;
  /** Decoded when read: the proxy keeps the encoded form (a tenth of the decoded size). */
  readonly resources: unknown[];
  lastNack?: { version: string; message: string; at: string };
  /** When this version was accepted. */
  readonly updatedAt?: Date;
  /** The accepted resources by name, as kept (encoded bytes, or the message when none came). */
  readonly kept?: ReadonlyMap<string, { bytes?: Uint8Array; message?: unknown }>;
}

/** One accepted resource as kept: its encoded bytes (the decoded message only when none came). */
interface Kept {
  bytes?: Uint8Array;
  message?: unknown;
}

/** An accepted version of one type, decoding its resources only when /config_dump asks. */
class KeptDump implements TypeDump {
  lastNack?: { version: string; message: string; at: string };
  readonly updatedAt = new Date();
  constructor(private readonly typeUrl: ResourceTypeUrl, readonly version: string, readonly kept: ReadonlyMap<string, Kept>) {}
  get resources(): unknown[] {
    return [...this.kept.values()].map((k) => (k.bytes ? unpack({ type_url: this.typeUrl, value: k.bytes }) : k.message));
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return !!a && !!b && Buffer.compare(a, b) === 0;
}

function rejected(typeUrl: ResourceTypeUrl, name: string, err: unknown): never {
  if (err instanceof ConfigError) throw new ResourceRejectedError(typeUrl, name, err.message, { cause: err });
  throw new ResourceRejectedError(typeUrl, name, (err as Error).message, { cause: err });
}

/** Events: `applied` (typeUrl, version), `rejected` (typeUrl, version, message), `ready`. */
export class XdsConfig extends EventEmitter {
  private clusterSpecs = new Map<string, ClusterSpec>();
  private endpointSets = new Map<string, EndpointSet>();
  private listenerSpecs = new Map<string, ListenerSpec>();
  private readonly dumps = new Map<ResourceTypeUrl, KeptDump>();
  private readonly accepted = new Set<ResourceTypeUrl>();
  private edsNames: string[] = [];
  private rdsNames: string[] = [];
  private isReady = false;

  constructor(
    private readonly client: AdsClient,
    private readonly clusters: ClusterManager,
    private readonly listenerManager: ListenerManager,
    private readonly routes: Map<string, RouteTable>,
    private readonly security: ProxySecurity | null = null,
  ) {
    super();
  }

  /** Compiles with this proxy's secret store bound to TLS contexts. */
  private compile<T>(fn: () => T): T {
    return this.security ? withSecretStore(this.security.store, fn) : fn();
  }

  /** Subscribes to the SDS secrets the clusters and listeners in force reference. */
  private updateSecrets(): void {
    if (!this.security) return;
    const names = new Set<string>();
    const add = (t: TransportSocketFactory) => {
      for (const n of secretsOf(t)) names.add(n);
    };
    for (const c of this.clusterSpecs.values()) add(c.transport);
    for (const l of this.listenerSpecs.values()) for (const ch of l.defaultChain ? [...l.chains, l.defaultChain] : l.chains) add(ch.transport);
    this.security.requireSecrets(names);
  }

  /** Registers the watches (CDS and LDS wildcard; EDS and RDS by name as they are referenced). */
  start(): void {
    this.security?.watch(this.client);
    this.client.watch(TypeUrl.Cluster, '*', (u) => this.onClusters(u));
    this.client.watch(TypeUrl.ClusterLoadAssignment, [], (u) => this.onEndpoints(u));
    this.client.watch(TypeUrl.Listener, '*', (u) => this.onListeners(u));
    this.client.watch(TypeUrl.RouteConfiguration, [], (u) => this.onRoutes(u));
    this.client.on('nack', (typeUrl: ResourceTypeUrl, version: string, message: string) => {
      const d = this.dumps.get(typeUrl) ?? new KeptDump(typeUrl, '', new Map());
      d.lastNack = { version, message, at: new Date().toISOString() };
      this.dumps.set(typeUrl, d);
      this.emit('rejected', typeUrl, version, message);
    });
  }

  /** True once CDS, LDS and the EDS/RDS they reference have been applied. */
  ready(): boolean {
    return this.isReady;
  }

  /** The config in force, by type, for /config_dump. */
  dump(): ReadonlyMap<ResourceTypeUrl, TypeDump> {
    return this.dumps;
  }

  /** The bytes of the accepted resource `name` of a type, if it came encoded. */
  private acceptedBytes(typeUrl: ResourceTypeUrl, name: string): Uint8Array | undefined {
    return this.dumps.get(typeUrl)?.kept.get(name)?.bytes;
  }

  private record(typeUrl: ResourceTypeUrl, u: XdsUpdate): void {
    const prev = this.dumps.get(typeUrl);
    const kept = new Map<string, Kept>();
    for (const r of u.resources) kept.set(r.name, r.bytes ? { bytes: r.bytes } : { message: r.message });
    const d = new KeptDump(typeUrl, u.version, kept);
    d.lastNack = prev?.lastNack;
    this.dumps.set(typeUrl, d);
    this.accepted.add(typeUrl);
    this.emit('applied', typeUrl, u.version);
    this.checkReady();
  }

  private checkReady(): void {
    if (this.isReady) return;
    const a = this.accepted;
    if (!a.has(TypeUrl.Cluster) || !a.has(TypeUrl.Listener)) return;
    if (this.edsNames.length && !a.has(TypeUrl.ClusterLoadAssignment)) return;
    if (this.rdsNames.length && !a.has(TypeUrl.RouteConfiguration)) return;
    for (const n of this.rdsNames) if (!this.routes.has(n)) return;
    this.isReady = true;
    this.emit('ready');
  }

  private onClusters(u: XdsUpdate): void {
    const next = new Map<string, ClusterSpec>();
    for (const r of u.resources) {
      if (next.has(r.name)) rejected(u.typeUrl, r.name, new Error('duplicate cluster name'));
      const prev = this.clusterSpecs.get(r.name);
      // unchanged resources (same bytes) keep their compiled spec (and the runtime cluster is not touched)
      if (prev && sameBytes(this.acceptedBytes(u.typeUrl, r.name), r.bytes)) { next.set(r.name, prev); continue; }
      try {
        // decoded here, dropped once compiled (only the compiled spec is kept)
        next.set(r.name, this.compile(() => compileCluster(r.message as unknown as Cluster__Output, u.version)));
      } catch (err) {
        rejected(u.typeUrl, r.name, err);
      }
    }
    this.clusterSpecs = next;
    this.clusters.applyClusters(next);
    this.updateSecrets();
    this.edsNames = this.clusters.edsNames();
    this.client.subscribe(TypeUrl.ClusterLoadAssignment, this.edsNames);
    this.record(u.typeUrl, u);
  }

  private onEndpoints(u: XdsUpdate): void {
    const next = new Map<string, EndpointSet>();
    for (const r of u.resources) {
      try {
        next.set(r.name, compileLoadAssignment(r.message as unknown as ClusterLoadAssignment__Output, u.version));
      } catch (err) {
        rejected(u.typeUrl, r.name, err);
      }
    }
    this.endpointSets = next;
    this.clusters.applyEndpoints(next);
    this.record(u.typeUrl, u);
  }

  private async onListeners(u: XdsUpdate): Promise<void> {
    const next = new Map<string, ListenerSpec>();
    const addrs = new Map<string, string>();
    for (const r of u.resources) {
      const prev = this.listenerSpecs.get(r.name);
      let spec: ListenerSpec;
      if (prev && sameBytes(this.acceptedBytes(u.typeUrl, r.name), r.bytes)) spec = prev;
      else {
        try {
          spec = this.compile(() => compileListener(r.message as unknown as Listener__Output, u.version));
        } catch (err) {
          rejected(u.typeUrl, r.name, err);
        }
      }
      const key = `${spec.address}:${spec.port}`;
      if (spec.port !== 0 && addrs.has(key)) rejected(u.typeUrl, r.name, new Error(`address ${key} is also used by listener "${addrs.get(key)}"`));
      addrs.set(key, r.name);
      next.set(r.name, spec);
    }
    try {
      await this.listenerManager.apply(next);
    } catch (err) {
      throw new ResourceRejectedError(u.typeUrl, undefined, (err as Error).message);
    }
    this.listenerSpecs = next;
    this.updateSecrets();
    const rds = new Set<string>();
    for (const s of next.values()) {
      for (const c of s.defaultChain ? [...s.chains, s.defaultChain] : s.chains) if (c.http?.rdsName) rds.add(c.http.rdsName);
    }
    this.rdsNames = [...rds].sort();
    this.client.subscribe(TypeUrl.RouteConfiguration, this.rdsNames);
    this.record(u.typeUrl, u);
  }

  private onRoutes(u: XdsUpdate): void {
    const next = new Map<string, RouteTable>();
    for (const r of u.resources) {
      const raw = r.message as unknown as RouteConfiguration__Output;
      const prev = this.routes.get(r.name);
      let t: RouteTable;
      try {
        t = prev && sameBytes(this.acceptedBytes(u.typeUrl, r.name), r.bytes) ? prev : compileRouteTable(raw, u.version);
      } catch (err) {
        rejected(u.typeUrl, r.name, err);
      }
      if (raw.validate_clusters?.value) {
        for (const c of referencedClusters(t)) {
          if (!this.clusterSpecs.has(c)) rejected(u.typeUrl, r.name, new Error(`validate_clusters: cluster "${c}" is unknown`));
        }
      }
      next.set(r.name, t);
    }
    this.routes.clear();
    for (const [k, v] of next) this.routes.set(k, v);
    this.record(u.typeUrl, u);
  }

  /** Short type names with accepted versions (for logs). */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [t, d] of this.dumps) out[TYPE_SHORT_NAME[t]] = d.version;
    return out;
  }
}

