/**
 * Applies xDS updates: compiles each pushed type into runtime tables once per version, rejects
 * (NACKs, with resource, field and reason) whatever cannot be applied faithfully while the last
 * good config keeps serving, and keeps EDS/RDS subscriptions in step with CDS/LDS.
 *
 * EDS and RDS are not full-state types: a State-of-the-World response may carry only the
 * resources that changed, and a subscribed resource it leaves out is kept. A route table whose
 * RouteConfiguration carries `vhds` takes its virtual hosts from VHDS: `VirtualHost` resources
 * `<route configuration>/<name>` over a Delta xDS stream (wildcard), each response applied to
 * every table it touches at once or NACKed as a whole (the tables in force keep serving).
 */
import { EventEmitter } from 'node:events';
import {
  parseVhdsResourceName, ResourceRejectedError, TypeUrl, TYPE_SHORT_NAME, unpack,
  type AdsClient, type DeltaAdsClient, type DeltaUpdate, type XdsUpdate, type Cluster__Output, type ClusterLoadAssignment__Output, type Listener__Output, type RouteConfiguration__Output, type ResourceTypeUrl, type VirtualHost__Output,
} from '@tsmesh/xds';
import { ConfigError } from '../config/errors';
import { compileCluster, compileLoadAssignment, type ClusterSpec, type EndpointSet } from '../config/cluster';
import { compileListener, type ListenerSpec } from '../config/listener';
import { compileRouteTable, compileVhdsRouteTable, compileVirtualHost, referencedClusters, type CompiledVirtualHost, type RouteTable } from '../config/route';
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
  /** Route configurations in force that carry `vhds` (their virtual hosts come from VHDS). */
  private vhdsHeaders = new Map<string, RouteConfiguration__Output>();
  /** VHDS virtual hosts in force, compiled, by route configuration name → resource name. */
  private virtualHosts = new Map<string, ReadonlyMap<string, CompiledVirtualHost>>();
  private vhdsStarted = false;

  constructor(
    private readonly client: AdsClient,
    private readonly clusters: ClusterManager,
    private readonly listenerManager: ListenerManager,
    private readonly routes: Map<string, RouteTable>,
    private readonly security: ProxySecurity | null = null,
    /** The Delta xDS client for VHDS (started when a route table first carries `vhds`); without one, `vhds` is refused. */
    private readonly vhdsClient: DeltaAdsClient | null = null,
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

  /**
   * Records an accepted version. For a type that is not full-state, `keep` names the resources
   * held from before (subscribed, not in this response) and `removed` those gone.
   */
  private record(typeUrl: ResourceTypeUrl, u: { version: string; resources: XdsUpdate['resources'] }, keep?: ReadonlySet<string> | 'all', removed: readonly string[] = []): void {
    const prev = this.dumps.get(typeUrl);
    const kept = new Map<string, Kept>();
    if (keep && prev) for (const [n, k] of prev.kept) if (keep === 'all' || keep.has(n)) kept.set(n, k);
    for (const n of removed) kept.delete(n);
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
    if (this.vhdsHeaders.size && !a.has(TypeUrl.VirtualHost)) return;
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
    // Not full-state: subscribed load assignments the response leaves out are kept.
    const subscribed = new Set(this.edsNames);
    const next = new Map<string, EndpointSet>();
    for (const [n, e] of this.endpointSets) if (subscribed.has(n)) next.set(n, e);
    for (const r of u.resources) {
      try {
        next.set(r.name, compileLoadAssignment(r.message as unknown as ClusterLoadAssignment__Output, u.version));
      } catch (err) {
        rejected(u.typeUrl, r.name, err);
      }
    }
    this.endpointSets = next;
    this.clusters.applyEndpoints(next);
    this.record(u.typeUrl, u, subscribed);
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
    // Not full-state: subscribed route tables the response leaves out are kept.
    const subscribed = new Set(this.rdsNames);
    const next = new Map<string, RouteTable>();
    const headers = new Map<string, RouteConfiguration__Output>();
    for (const [n, t] of this.routes) if (subscribed.has(n)) next.set(n, t);
    for (const [n, h] of this.vhdsHeaders) if (subscribed.has(n)) headers.set(n, h);
    for (const r of u.resources) {
      const raw = r.message as unknown as RouteConfiguration__Output;
      const prev = this.routes.get(r.name);
      let t: RouteTable;
      headers.delete(r.name);
      if (raw.vhds) {
        if (!this.vhdsClient) rejected(u.typeUrl, r.name, new Error('vhds: this proxy has no VHDS client'));
        if (raw.virtual_hosts.length) rejected(u.typeUrl, r.name, new Error('virtual_hosts: a route configuration with vhds takes its virtual hosts from VHDS only'));
        if (raw.vhds.config_source?.config_source_specifier !== 'ads') rejected(u.typeUrl, r.name, new Error('vhds.config_source: only ads is supported'));
        headers.set(r.name, raw);
        t = this.compileVhds(r.name, raw, this.virtualHosts.get(r.name), u.version, (err) => rejected(u.typeUrl, r.name, err));
      } else {
        try {
          t = prev && sameBytes(this.acceptedBytes(u.typeUrl, r.name), r.bytes) ? prev : compileRouteTable(raw, u.version);
        } catch (err) {
          rejected(u.typeUrl, r.name, err);
        }
        this.checkClusters(u.typeUrl, r.name, raw, t);
      }
      next.set(r.name, t);
    }
    this.routes.clear();
    for (const [k, v] of next) this.routes.set(k, v);
    this.vhdsHeaders = headers;
    if (headers.size) this.startVhds();
    this.record(u.typeUrl, u, subscribed);
  }

  private checkClusters(typeUrl: ResourceTypeUrl, name: string, raw: RouteConfiguration__Output, t: RouteTable): void {
    if (!raw.validate_clusters?.value) return;
    for (const c of referencedClusters(t)) {
      if (!this.clusterSpecs.has(c)) rejected(typeUrl, name, new Error(`validate_clusters: cluster "${c}" is unknown`));
    }
  }

  /** A route table from a `vhds` header and its VHDS virtual hosts (in resource-name order: Envoy's matching does not depend on it). */
  private compileVhds(name: string, header: RouteConfiguration__Output, hosts: ReadonlyMap<string, CompiledVirtualHost> | undefined, version: string, fail: (err: unknown) => never): RouteTable {
    let t: RouteTable;
    try {
      t = compileVhdsRouteTable(header, hosts, version);
    } catch (err) {
      fail(err);
    }
    this.checkClusters(TypeUrl.RouteConfiguration, name, header, t);
    return t;
  }

  /** Opens the VHDS stream once: a wildcard subscription to every virtual host of this proxy's route tables. */
  private startVhds(): void {
    if (this.vhdsStarted || !this.vhdsClient) return;
    this.vhdsStarted = true;
    this.vhdsClient.on('nack', (typeUrl: ResourceTypeUrl, version: string, message: string) => {
      const d = this.dumps.get(typeUrl) ?? new KeptDump(typeUrl, '', new Map());
      d.lastNack = { version, message, at: new Date().toISOString() };
      this.dumps.set(typeUrl, d);
      this.emit('rejected', typeUrl, version, message);
    });
    this.vhdsClient.watch(TypeUrl.VirtualHost, (u) => this.onVirtualHosts(u));
    this.vhdsClient.start();
  }

  /**
   * Applies one VHDS response to every route table it touches, all or nothing: each changed
   * virtual host is compiled on its own (an error names it), then each touched table is assembled
   * from its compiled virtual hosts (unchanged ones are reused, not recompiled).
   */
  private onVirtualHosts(u: DeltaUpdate): void {
    const touched = new Map<string, Map<string, CompiledVirtualHost>>();
    const edit = (rc: string) => {
      let m = touched.get(rc);
      if (!m) touched.set(rc, (m = new Map(this.virtualHosts.get(rc) ?? [])));
      return m;
    };
    for (const r of u.resources) {
      const n = parseVhdsResourceName(r.name);
      if (!n) rejected(u.typeUrl, r.name, new Error('name: a VHDS resource is named <route configuration>/<host>'));
      let compiled: CompiledVirtualHost;
      try {
        compiled = compileVirtualHost(r.message as unknown as VirtualHost__Output, '');
      } catch (err) {
        rejected(u.typeUrl, r.name, err);
      }
      edit(n.routeConfig).set(r.name, compiled);
    }
    for (const name of u.removed) {
      const n = parseVhdsResourceName(name);
      if (n) edit(n.routeConfig).delete(name);
    }
    const tables = new Map<string, RouteTable>();
    for (const [rc, hosts] of touched) {
      const header = this.vhdsHeaders.get(rc);
      if (!header) continue; // its route table is not (yet) in force: kept for when it arrives
      tables.set(rc, this.compileVhds(rc, header, hosts, u.systemVersion, (err) => rejected(u.typeUrl, rc, err)));
    }
    for (const [rc, hosts] of touched) this.virtualHosts.set(rc, hosts);
    for (const [rc, t] of tables) this.routes.set(rc, t);
    this.record(u.typeUrl, { version: u.systemVersion, resources: u.resources }, 'all', u.removed);
  }

  /** Short type names with accepted versions (for logs). */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [t, d] of this.dumps) out[TYPE_SHORT_NAME[t]] = d.version;
    return out;
  }
}

