/**
 * One snapshot per distinct content, shared by every node that holds it. A control plane
 * generating thousands of proxies a push hands each proxy's encoded resources and per-type
 * content versions to {@link SnapshotPool.snapshot}: proxies whose resources are equal get the
 * same {@link Snapshot} object, and a type whose content did not change keeps the very resource
 * list — and so the very name index — it had in the pushes before. The snapshot cache then skips
 * an unchanged type by identity, and the Delta diff between two snapshot maps is computed once
 * for every stream making the same move.
 *
 * Equality is never taken on trust: a list is merged with a pooled one only when the type, the
 * version and every resource (name and content hash, in order) are equal, so two proxies whose
 * config differs in any input never share a list or a snapshot.
 */
import { ALL_TYPE_URLS, type ResourceTypeUrl } from '../type-urls';
import type { EncodedResource } from '../resource';
import type { Snapshot } from './snapshot';
import { snapshotFromEncoded, type EncodedResources } from './snapshot-encoded';

type Versions = { [K in ResourceTypeUrl]?: string };

interface Pooled {
  list: readonly EncodedResource[];
  id: number;
}

function sameList(a: readonly EncodedResource[], b: readonly EncodedResource[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x !== y && (x.name !== y.name || x.version !== y.version || x.typeUrl !== y.typeUrl)) return false;
  }
  return true;
}

/** Snapshots and resource lists shared by content; entries unused for a whole round are dropped. */
export class SnapshotPool {
  private lists = new Map<string, Pooled[]>();
  private oldLists = new Map<string, Pooled[]>();
  private snapshots = new Map<string, Snapshot>();
  private oldSnapshots = new Map<string, Snapshot>();
  /** Lists already matched to their pooled twin (each list object is compared once). */
  private seen = new WeakMap<readonly EncodedResource[], Pooled>();
  private nextId = 1;

  /** The shared snapshot for these per-type versions and resources (built once per distinct content). */
  snapshot(versions: Versions, resources: EncodedResources): Snapshot {
    const lists: EncodedResources = {};
    let key = '';
    for (const t of ALL_TYPE_URLS) {
      const p = this.pooled(t, versions[t] ?? '', resources[t] ?? EMPTY);
      lists[t] = p.list;
      key += `${p.id}.${versions[t] ?? ''}|`;
    }
    let snap = this.snapshots.get(key);
    if (!snap) {
      snap = this.oldSnapshots.get(key) ?? snapshotFromEncoded(versions, lists);
      this.snapshots.set(key, snap);
    }
    return snap;
  }

  /** Ends a round (a push): what was not asked for since the previous round is dropped. */
  sweep(): void {
    this.oldLists = this.lists;
    this.lists = new Map();
    this.oldSnapshots = this.snapshots;
    this.snapshots = new Map();
  }

  /** Distinct lists and snapshots held (for tests and status). */
  get size(): { lists: number; snapshots: number } {
    const lists = new Set<Pooled>();
    for (const m of [this.lists, this.oldLists]) for (const ps of m.values()) for (const p of ps) lists.add(p);
    return { lists: lists.size, snapshots: new Set([...this.snapshots.values(), ...this.oldSnapshots.values()]).size };
  }

  private pooled(typeUrl: ResourceTypeUrl, version: string, list: readonly EncodedResource[]): Pooled {
    const k = `${typeUrl}\0${version}`;
    let bucket = this.lists.get(k);
    const old = this.oldLists.get(k);
    const known = this.seen.get(list);
    let p = known && (bucket?.includes(known) || old?.includes(known)) ? known : undefined;
    p ??= bucket?.find((c) => sameList(c.list, list)) ?? old?.find((c) => sameList(c.list, list)) ?? { list, id: this.nextId++ };
    if (!bucket) this.lists.set(k, (bucket = []));
    if (!bucket.includes(p)) bucket.push(p);
    this.seen.set(list, p);
    return p;
  }
}

const EMPTY: readonly EncodedResource[] = [];
