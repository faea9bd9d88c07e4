/**
 * A snapshot cache keyed by node id. It owns snapshots, versions and watches; the gRPC server owns
 * streams, nonces and subscriptions. They meet at {@link ConfigWatcher}: `createWatch(request,
 * subscription, emit) → cancel` and its Delta xDS twin.
 */
import type { EncodedResource } from '../resource';
import { FULL_STATE_TYPES } from '../type-urls';
import type { Snapshot } from './snapshot';

/** What a State-of-the-World stream asks for one type. */
export interface WatchRequest {
  readonly nodeId: string;
  readonly typeUrl: string;
  /** Subscribed resource names (ignored when `wildcard`). */
  readonly resourceNames: ReadonlySet<string>;
  /** All resources of the type (LDS/CDS with no names, or an explicit `*`). */
  readonly wildcard: boolean;
  /** The version the client has accepted (`version_info`). */
  readonly versionInfo: string;
}

/** Stream-side state the cache reads to decide whether a response is due. */
export interface Subscription {
  /** The names (and wildcard flag) as of the last response on this stream for this type; undefined before the first. */
  readonly lastResponseNames?: ReadonlySet<string>;
  readonly lastResponseWildcard?: boolean;
  /** A version the client NACKed; not sent again until the snapshot moves on. */
  readonly nackedVersion?: string;
  /**
   * The snapshot map of the last response the client ACKed, for the names it subscribes now
   * (absent when the names changed since, or nothing was ACKed on this stream). For types that
   * are not full-state (RDS, EDS, SDS) the next response carries only what changed since it.
   */
  readonly ackedMap?: ReadonlyMap<string, EncodedResource>;
}

/** A State-of-the-World response for one type. */
export interface WatchResponse {
  readonly typeUrl: string;
  readonly version: string;
  readonly resources: readonly EncodedResource[];
  /**
   * The same object for every response equal to this one (same version and resources, whatever
   * the stream), so a transport can encode it once and write the same bytes on each stream.
   */
  readonly shared?: object;
  /** The snapshot's resources of the type this response brings the client to. */
  readonly from?: ReadonlyMap<string, EncodedResource>;
  /** Only the resources changed since the client's ACKed map (a non-full-state type). */
  readonly incremental?: boolean;
}

/** What a Delta client holds of one type: resource name → version (a `Map` will do). */
export interface KnownVersions {
  get(name: string): string | undefined;
  keys(): Iterable<string>;
}

/** What a Delta xDS stream has and wants for one type. */
export interface DeltaWatchRequest {
  readonly nodeId: string;
  readonly typeUrl: string;
  readonly wildcard: boolean;
  readonly subscribed: ReadonlySet<string>;
  /** Resource name → version the client has. */
  readonly known: KnownVersions;
  /**
   * The snapshot resources the client is known to hold exactly (for its subscription), when the
   * stream knows: the map its last response was computed from. A snapshot still holding that very
   * map owes the client nothing, and no diff is computed.
   */
  readonly held?: ReadonlyMap<string, EncodedResource>;
  /** A system version the client NACKed: nothing is sent until the snapshot's version of the type moves on. */
  readonly nackedVersion?: string;
}

/** A Delta xDS response: changed or new resources, and names removed. */
export interface DeltaWatchResponse {
  readonly typeUrl: string;
  readonly systemVersion: string;
  readonly resources: readonly EncodedResource[];
  readonly removed: readonly string[];
  /** The snapshot's resources of the type this response brings the client to. */
  readonly from?: ReadonlyMap<string, EncodedResource>;
  /**
   * The same object for every response equal to this one (same system version, resources and
   * removed names: streams that held the same snapshot map and move to the same one), so a
   * transport can encode it once and write the same bytes on each stream.
   */
  readonly shared?: object;
}

/** Cancels a watch; safe to call twice. */
export type Cancel = () => void;

/** The seam between the ADS transport and a cache. */
export interface ConfigWatcher {
  createWatch(request: WatchRequest, subscription: Subscription, emit: (r: WatchResponse) => void): Cancel;
  createDeltaWatch(request: DeltaWatchRequest, emit: (r: DeltaWatchResponse) => void): Cancel;
  /** The version of a type in a node's current snapshot, when the watcher has one (for status). */
  versionOf?(nodeId: string, typeUrl: string): string | undefined;
  /**
   * The watcher's own copy of a resource name a request carries (the name string of the
   * resource in the node's snapshot), so thousands of streams subscribing to one name hold one
   * string rather than one decoded copy each. Returns `name` when it knows none.
   */
  canonicalName?(nodeId: string, typeUrl: string, name: string): string;
  /** The resources of a type in a node's current snapshot, when the watcher has one (a resuming client may hold exactly them). */
  resourcesOf?(nodeId: string, typeUrl: string): ReadonlyMap<string, EncodedResource> | undefined;
}

interface SotwWatch {
  kind: 'sotw';
  request: WatchRequest;
  subscription: Subscription;
  emit: (r: WatchResponse) => void;
}
interface DeltaWatch {
  kind: 'delta';
  request: DeltaWatchRequest;
  emit: (r: DeltaWatchResponse) => void;
}
type Watch = SotwWatch | DeltaWatch;

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

type ResourceMap = ReadonlyMap<string, EncodedResource>;

/** The map a Delta client holds before its first response when it resumes with nothing: it holds exactly no resource. */
export const HOLDS_NOTHING: ResourceMap = new Map();

/** Resources of `to` not held at their version in `from`, and names of `from` gone from `to`. */
interface MapDiff {
  readonly changed: readonly EncodedResource[];
  readonly removed: readonly string[];
  /** Shared-response tokens by system version (one per version the diff was sent at). */
  readonly tokens: Map<string, object>;
}

const diffs = new WeakMap<ResourceMap, WeakMap<ResourceMap, MapDiff>>();

/** The diff between two snapshot maps, computed once for every stream moving from one to the other. */
function mapDiff(from: ResourceMap, to: ResourceMap): MapDiff {
  let inner = diffs.get(from);
  if (!inner) diffs.set(from, (inner = new WeakMap()));
  let d = inner.get(to);
  if (!d) {
    const changed: EncodedResource[] = [];
    const removed: string[] = [];
    for (const r of to.values()) if (from.get(r.name)?.version !== r.version) changed.push(r);
    for (const name of from.keys()) if (!to.has(name)) removed.push(name);
    inner.set(to, (d = { changed, removed, tokens: new Map() }));
  }
  return d;
}

/**
 * The Delta response for a client known to hold exactly `held` (restricted to its subscription
 * when not wildcard): the diff of the two snapshot maps, shared by every stream making the same
 * move, filtered by the subscription only when it leaves something out.
 */
function heldDelta(snapshot: Snapshot, req: DeltaWatchRequest, held: ResourceMap, all: ResourceMap): DeltaWatchResponse | null {
  const d = mapDiff(held, all);
  let resources = d.changed;
  let removed = d.removed;
  if (!req.wildcard) {
    // The client holds `held` ∩ subscribed: it is owed the subscribed part of the diff.
    if (resources.some((r) => !req.subscribed.has(r.name))) resources = resources.filter((r) => req.subscribed.has(r.name));
    if (removed.some((n) => !req.subscribed.has(n))) removed = removed.filter((n) => req.subscribed.has(n));
  }
  if (resources.length === 0 && removed.length === 0) return null;
  const systemVersion = snapshot.version(req.typeUrl);
  let shared: object | undefined;
  if (resources === d.changed && removed === d.removed) {
    shared = d.tokens.get(systemVersion);
    if (!shared) d.tokens.set(systemVersion, (shared = {}));
  }
  return { typeUrl: req.typeUrl, systemVersion, resources, removed, from: all, shared };
}

const wildcards = new WeakMap<ResourceMap, Map<string, WatchResponse>>();

/** A wildcard SotW response: every resource of the map, one response object per (map, version, type). */
function sotwWildcard(all: ResourceMap, typeUrl: string, version: string): WatchResponse {
  let byVersion = wildcards.get(all);
  if (!byVersion) wildcards.set(all, (byVersion = new Map()));
  const k = `${typeUrl}\0${version}`;
  let r = byVersion.get(k);
  if (!r) {
    const token = {};
    r = { typeUrl, version, resources: [...all.values()], shared: token };
    byVersion.set(k, r);
  }
  return r;
}

/** Computes the SotW response due for a request against a snapshot, or null when none is due. */
export function sotwResponse(snapshot: Snapshot, req: WatchRequest, sub: Subscription): WatchResponse | null {
  const version = snapshot.version(req.typeUrl);
  const namesChanged =
    sub.lastResponseNames === undefined ||
    sub.lastResponseWildcard !== req.wildcard ||
    (!req.wildcard && !sameSet(sub.lastResponseNames, req.resourceNames));
  if (!req.wildcard && req.resourceNames.size === 0 && (sub.lastResponseNames === undefined || sub.lastResponseNames.size === 0)) return null;
  if (!namesChanged && (version === req.versionInfo || version === sub.nackedVersion)) return null;
  const all = snapshot.resources(req.typeUrl);
  if (req.wildcard) return sotwWildcard(all, req.typeUrl, version);
  if (sub.ackedMap && !namesChanged && !FULL_STATE_TYPES.has(req.typeUrl)) {
    const r = sotwIncremental(all, req, version, sub.ackedMap);
    if (r) return r;
  }
  const resources: EncodedResource[] = [];
  {
    for (const name of req.resourceNames) {
      const r = all.get(name);
      if (r) resources.push(r);
    }
  }
  return { typeUrl: req.typeUrl, version, resources, from: all };
}

/**
 * A SotW response of a non-full-state type carrying only the subscribed resources changed since
 * the map the client ACKed (xDS: absent resources of these types are kept). Shared by every
 * stream making the same move. Null when a subscribed resource left the snapshot (SotW cannot
 * say "removed": the full subscribed set is sent, as before).
 */
function sotwIncremental(all: ResourceMap, req: WatchRequest, version: string, acked: ResourceMap): WatchResponse | null {
  const d = mapDiff(acked, all);
  const names = req.resourceNames;
  for (const n of d.removed) if (names.has(n)) return null;
  let resources = d.changed;
  if (resources.some((r) => !names.has(r.name))) resources = resources.filter((r) => names.has(r.name));
  let shared: object | undefined;
  if (resources === d.changed) {
    const k = `sotw\0${version}`;
    shared = d.tokens.get(k);
    if (!shared) d.tokens.set(k, (shared = {}));
  }
  return { typeUrl: req.typeUrl, version, resources, shared, from: all, incremental: true };
}

/** Computes the Delta response due for a request against a snapshot, or null when nothing changed. */
export function deltaResponse(snapshot: Snapshot, req: DeltaWatchRequest): DeltaWatchResponse | null {
  const all = snapshot.resources(req.typeUrl);
  if (req.held === all) return null;
  if (req.nackedVersion !== undefined && snapshot.version(req.typeUrl) === req.nackedVersion) return null;
  if (req.held) return heldDelta(snapshot, req, req.held, all);
  const resources: EncodedResource[] = [];
  const removed: string[] = [];
  // One pass over what the snapshot has (wanted and not held at this version), one over what the
  // client holds (no longer there or no longer wanted), one over names subscribed but missing.
  if (req.wildcard) {
    for (const r of all.values()) if (req.known.get(r.name) !== r.version) resources.push(r);
  } else {
    for (const name of req.subscribed) {
      const r = all.get(name);
      if (r && req.known.get(name) !== r.version) resources.push(r);
    }
  }
  for (const name of req.known.keys()) {
    if (!all.has(name) || (!req.wildcard && !req.subscribed.has(name))) removed.push(name);
  }
  if (resources.length === 0 && removed.length === 0) return null;
  return { typeUrl: req.typeUrl, systemVersion: snapshot.version(req.typeUrl), resources, removed, from: all };
}

/** Snapshot cache keyed by node id, with watches answered when a snapshot is set. */
export class SnapshotCache implements ConfigWatcher {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watches = new Map<string, Set<Watch>>();
  private readonly listeners = new Set<(nodeId: string, snapshot: Snapshot) => void>();

  /** Sets the snapshot of a node after checking its consistency, and answers every watch it concerns. */
  setSnapshot(nodeId: string, snapshot: Snapshot): void {
    snapshot.assertConsistent();
    const prev = this.snapshots.get(nodeId);
    this.snapshots.set(nodeId, snapshot);
    const set = this.watches.get(nodeId);
    if (set) {
      for (const w of [...set]) {
        // An open watch found nothing to send in the previous snapshot: a type whose resources and
        // version are the very same objects needs no second look.
        const t = w.request.typeUrl;
        if (prev && prev.resources(t) === snapshot.resources(t) && prev.version(t) === snapshot.version(t)) continue;
        if (this.tryRespond(snapshot, w)) set.delete(w);
      }
    }
    for (const l of this.listeners) l(nodeId, snapshot);
  }

  /** The snapshot of a node, if any. */
  versionOf(nodeId: string, typeUrl: string): string | undefined {
    return this.snapshots.get(nodeId)?.version(typeUrl);
  }

  resourcesOf(nodeId: string, typeUrl: string): ReadonlyMap<string, EncodedResource> | undefined {
    return this.snapshots.get(nodeId)?.resources(typeUrl);
  }

  canonicalName(nodeId: string, typeUrl: string, name: string): string {
    return this.snapshots.get(nodeId)?.resources(typeUrl).get(name)?.name ?? name;
  }

  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.snapshots.get(nodeId);
  }

  /** Drops a node's snapshot (watches stay open until a new one arrives). */
  clearSnapshot(nodeId: string): void {
    this.snapshots.delete(nodeId);
  }

  /** Node ids that have a snapshot. */
  nodeIds(): string[] {
    return [...this.snapshots.keys()];
  }

  /** Number of open watches of a node (for tests and status). */
  watchCount(nodeId: string): number {
    return this.watches.get(nodeId)?.size ?? 0;
  }

  /** Called after every setSnapshot. */
  onSnapshot(listener: (nodeId: string, snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  createWatch(request: WatchRequest, subscription: Subscription, emit: (r: WatchResponse) => void): Cancel {
    return this.addWatch(request.nodeId, { kind: 'sotw', request, subscription, emit });
  }

  createDeltaWatch(request: DeltaWatchRequest, emit: (r: DeltaWatchResponse) => void): Cancel {
    return this.addWatch(request.nodeId, { kind: 'delta', request, emit });
  }

  private addWatch(nodeId: string, w: Watch): Cancel {
    const snap = this.snapshots.get(nodeId);
    if (snap && this.tryRespond(snap, w)) return noop;
    let set = this.watches.get(nodeId);
    if (!set) {
      set = new Set();
      this.watches.set(nodeId, set);
    }
    set.add(w);
    return () => {
      const s = this.watches.get(nodeId);
      if (!s) return;
      s.delete(w);
      if (s.size === 0) this.watches.delete(nodeId);
    };
  }

  private tryRespond(snap: Snapshot, w: Watch): boolean {
    if (w.kind === 'sotw') {
      const r = sotwResponse(snap, w.request, w.subscription);
      if (!r) return false;
      w.emit(r);
      return true;
    }
    const r = deltaResponse(snap, w.request);
    if (!r) return false;
    w.emit(r);
    return true;
  }
}

const noop: Cancel = () => {};
