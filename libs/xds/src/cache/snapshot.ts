/**
 * An immutable, consistency-checked set of resources for one node: every resource type with its
 * own version, every resource encoded once.
 */
import { ALL_TYPE_URLS, ExtensionTypeUrl, TypeUrl, type ResourceTypeUrl } from '../type-urls';
import { encodeResource, type EncodedResource, type ResourceMessages } from '../resource';
import { SnapshotInconsistentError } from '../errors';
import { unpack } from '../proto/codec';
import type { Cluster, Listener } from '../types';

/** Resources to put in a snapshot, by type. */
export type SnapshotResources = { [K in ResourceTypeUrl]?: ResourceMessages[K][] };

/** Per-type versions: one string for all types, or one per type. */
export type SnapshotVersions = string | { [K in ResourceTypeUrl]?: string };

/** An immutable snapshot. Build with {@link Snapshot.create}. */
export class Snapshot {
  private readonly byType: ReadonlyMap<ResourceTypeUrl, ReadonlyMap<string, EncodedResource>>;
  private readonly versions: ReadonlyMap<ResourceTypeUrl, string>;

  private constructor(byType: Map<ResourceTypeUrl, Map<string, EncodedResource>>, versions: Map<ResourceTypeUrl, string>) {
    this.byType = byType;
    this.versions = versions;
    Object.freeze(this);
  }

  /**
   * Encodes the resources and builds a snapshot. Throws a ResourceEncodingError naming the bad
   * resource, or an Error for duplicate names.
   */
  static create(versions: SnapshotVersions, resources: SnapshotResources): Snapshot {
    const byType = new Map<ResourceTypeUrl, Map<string, EncodedResource>>();
    const vers = new Map<ResourceTypeUrl, string>();
    for (const typeUrl of ALL_TYPE_URLS) {
      const list = (resources[typeUrl] ?? []) as ResourceMessages[typeof typeUrl][];
      const map = new Map<string, EncodedResource>();
      for (const message of list) {
        const enc = encodeResource(typeUrl, message);
        if (map.has(enc.name)) throw new SnapshotInconsistentError([`duplicate ${typeUrl} resource "${enc.name}"`]);
        map.set(enc.name, enc);
      }
      byType.set(typeUrl, map);
      vers.set(typeUrl, typeof versions === 'string' ? versions : (versions[typeUrl] ?? ''));
    }
    return new Snapshot(byType, vers);
  }

  /** The version of one resource type. */
  version(typeUrl: string): string {
    return this.versions.get(typeUrl as ResourceTypeUrl) ?? '';
  }

  /** All resources of a type, by name. */
  resources(typeUrl: string): ReadonlyMap<string, EncodedResource> {
    return this.byType.get(typeUrl as ResourceTypeUrl) ?? EMPTY;
  }

  /**
   * Checks references inside the snapshot: each RDS name a listener uses must be a
   * RouteConfiguration here, each EDS service name a cluster uses must be a ClusterLoadAssignment
   * here. Returns the list of problems (empty when consistent).
   */
  consistencyProblems(): string[] {
    // Snapshots of proxies that share resource lists share their maps: check each pair once.
    const listeners = this.resources(TypeUrl.Listener);
    const routes = this.resources(TypeUrl.RouteConfiguration);
    const clusters = this.resources(TypeUrl.Cluster);
    const clas = this.resources(TypeUrl.ClusterLoadAssignment);
    return [
      ...pairMemo(listenerChecks, listeners, routes, () => routeProblems(listeners, routes)),
      ...pairMemo(clusterChecks, clusters, clas, () => endpointProblems(clusters, clas)),
    ];
  }

  /** Throws SnapshotInconsistentError unless {@link consistencyProblems} is empty. */
  assertConsistent(): this {
    const p = this.consistencyProblems();
    if (p.length) throw new SnapshotInconsistentError(p);
    return this;
  }
}

const EMPTY: ReadonlyMap<string, EncodedResource> = new Map();

type ResourceMap = ReadonlyMap<string, EncodedResource>;
const listenerChecks = new WeakMap<ResourceMap, WeakMap<ResourceMap, string[]>>();
const clusterChecks = new WeakMap<ResourceMap, WeakMap<ResourceMap, string[]>>();

function pairMemo(memo: WeakMap<ResourceMap, WeakMap<ResourceMap, string[]>>, a: ResourceMap, b: ResourceMap, check: () => string[]): string[] {
  let inner = memo.get(a);
  if (!inner) memo.set(a, (inner = new WeakMap()));
  let r = inner.get(b);
  if (!r) inner.set(b, (r = check()));
  return r;
}

function routeProblems(listeners: ResourceMap, routes: ResourceMap): string[] {
  const problems: string[] = [];
  for (const r of listeners.values()) {
    for (const rds of referencedRouteNames(r.message as Listener)) {
      if (!routes.has(rds)) problems.push(`listener "${r.name}" references route configuration "${rds}" which is not in the snapshot`);
    }
  }
  return problems;
}

function endpointProblems(clusters: ResourceMap, clas: ResourceMap): string[] {
  const problems: string[] = [];
  for (const c of clusters.values()) {
    const cl = c.message as Cluster;
    if (cl.type !== 'EDS') continue;
    const svc = cl.eds_cluster_config?.service_name || cl.name!;
    if (!clas.has(svc)) problems.push(`cluster "${c.name}" references endpoints "${svc}" which are not in the snapshot`);
  }
  return problems;
}

/** RDS route configuration names referenced by a listener's HTTP connection managers (filter chains and API listener). */
export function referencedRouteNames(l: Listener): string[] {
  // Listeners are immutable once in a snapshot; many snapshots share one listener object.
  const hit = routeNamesMemo.get(l);
  if (hit) return hit;
  const names: string[] = [];
  const visit = (any: { type_url?: string; value?: unknown } | null | undefined) => {
    if (!any || any.type_url !== ExtensionTypeUrl.HttpConnectionManager) return;
    const hcm = unpack<{ rds?: { route_config_name?: string } | null }>(any as { type_url: string; value: Uint8Array });
    if (hcm.rds?.route_config_name) names.push(hcm.rds.route_config_name);
  };
  visit(l.api_listener?.api_listener as never);
  for (const fc of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
    for (const f of fc.filters ?? []) visit(f.typed_config as never);
  }
  routeNamesMemo.set(l, names);
  return names;
}

const routeNamesMemo = new WeakMap<Listener, string[]>();
