/**
 * The object store: the local runtime's API server storage. Objects by kind and key
 * (`namespace/name`, or the name of a cluster-scoped kind), each write stamped with a new
 * `metadata.resourceVersion` (one counter for the store, as etcd's revision), `uid` and
 * `creationTimestamp` on create, `metadata.generation` moved when the spec changes. Watches are
 * `list + watch` as `@kubernetes/client-node` informers consume them: ADDED for what exists, then
 * ADDED / MODIFIED / DELETED in write order, delivered synchronously.
 */
import { randomUUID } from 'node:crypto';
import { storeKind } from './gateway-deployer';
import { isClusterScoped, type KubeObject } from './kube';

/** One change of an object. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

/**
 * Receives the events of a watch. A handler may return the promise of the work the event started;
 * {@link ObjectStore.apply} and {@link ObjectStore.remove} resolve once that work has settled.
 */
export type WatchHandler = (event: WatchEvent) => void | Promise<unknown>;

/** `namespace/name` (namespaced kinds; namespace defaulted) or `name` (cluster-scoped). */
export function storeKey(o: KubeObject): string {
  return isClusterScoped(o.kind) ? (o.metadata.name ?? '') : `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;
}

/** The object store (list / get / put / patch / status / delete / watch). */
export class ObjectStore {
  private revision = 0;
  private readonly kinds = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Map<string, Set<WatchHandler>>();
  private readonly all = new Set<WatchHandler>();

  private table(kind: string): Map<string, KubeObject> {
    let m = this.kinds.get(kind);
    if (!m) this.kinds.set(kind, (m = new Map()));
    return m;
  }

  /** The store's current revision (the resourceVersion of its latest write). */
  get resourceVersion(): string {
    return String(this.revision);
  }

  /** An object by kind and key. */
  get(kind: string, key: string): KubeObject | undefined {
    return this.kinds.get(kind)?.get(key);
  }

  /** Every object of `kind` (in `namespace`, when given). */
  list(kind: string, namespace?: string): KubeObject[] {
    const objs = [...(this.kinds.get(kind)?.values() ?? [])];
    return namespace === undefined ? objs : objs.filter((o) => o.metadata.namespace === namespace);
  }

  /** The kinds that have objects. */
  listKinds(): string[] {
    return [...this.kinds].filter(([, m]) => m.size > 0).map(([k]) => k);
  }

  /**
   * Creates or replaces an object (`kubectl apply`): keeps the uid and creationTimestamp of the
   * object it replaces, moves `generation` when the spec changed, and keeps the stored status
   * when the new object has none (status is written through {@link ObjectStore.status}).
   */
  put(o: KubeObject): KubeObject {
    this.write(o);
    return o;
  }

  /** {@link ObjectStore.put}, resolving once the work its watchers started for it has settled (what `kubectl apply` would see a moment later). */
  async apply(o: KubeObject): Promise<KubeObject> {
    await Promise.allSettled(this.write(o));
    return o;
  }

  /** {@link ObjectStore.delete}, resolving once the work its watchers started for it has settled. */
  async remove(kind: string, key: string): Promise<KubeObject | undefined> {
    const o = this.get(kind, key);
    if (!o) return undefined;
    const t = this.kinds.get(kind)!;
    t.delete(key);
    o.metadata.resourceVersion = String(++this.revision);
    await Promise.allSettled(this.emit({ type: 'DELETED', object: o }));
    return o;
  }

  private write(o: KubeObject): Promise<unknown>[] {
    if (!isClusterScoped(o.kind)) o.metadata.namespace ??= 'default';
    const key = storeKey(o);
    // Gateway API's Gateway is kept apart from Istio's (`storeKind`).
    const t = this.table(storeKind(o));
    const prev = t.get(key);
    o.metadata.uid = prev?.metadata.uid ?? o.metadata.uid ?? randomUUID();
    o.metadata.creationTimestamp = prev?.metadata.creationTimestamp ?? o.metadata.creationTimestamp ?? new Date().toISOString();
    const specChanged = !prev || JSON.stringify(prev.spec) !== JSON.stringify(o.spec);
    o.metadata.generation = prev ? Number(prev.metadata.generation ?? 1) + (specChanged ? 1 : 0) : Number(o.metadata.generation ?? 1);
    if (o.status === undefined && prev?.status !== undefined) o.status = prev.status;
    o.metadata.resourceVersion = String(++this.revision);
    t.set(key, o);
    return this.emit({ type: prev ? 'MODIFIED' : 'ADDED', object: o });
  }

  /** Changes an object in place (metadata or spec) and records it as a new version; undefined when absent. */
  patch(kind: string, key: string, change: (o: KubeObject) => void): KubeObject | undefined {
    const o = this.get(kind, key);
    if (!o) return undefined;
    const spec = JSON.stringify(o.spec);
    change(o);
    if (JSON.stringify(o.spec) !== spec) o.metadata.generation = Number(o.metadata.generation ?? 1) + 1;
    o.metadata.resourceVersion = String(++this.revision);
    this.emit({ type: 'MODIFIED', object: o });
    return o;
  }

  /** Writes an object's status subresource (spec and generation untouched); undefined when absent. */
  status(kind: string, key: string, status: unknown): KubeObject | undefined {
    const o = this.get(kind, key);
    if (!o) return undefined;
    if (JSON.stringify(o.status) === JSON.stringify(status)) return o;
    o.status = status;
    o.metadata.resourceVersion = String(++this.revision);
    this.emit({ type: 'MODIFIED', object: o });
    return o;
  }

  /** Removes an object; the removed object, or undefined. */
  delete(kind: string, key: string): KubeObject | undefined {
    const t = this.kinds.get(kind);
    const o = t?.get(key);
    if (!o) return undefined;
    t!.delete(key);
    o.metadata.resourceVersion = String(++this.revision);
    this.emit({ type: 'DELETED', object: o });
    return o;
  }

  /**
   * Watches `kind` (or every kind with `'*'`): ADDED for each existing object first (list), then
   * each change as it is written. Returns the function that stops the watch.
   */
  watch(kind: string, handler: WatchHandler): () => void {
    const existing = kind === '*' ? [...this.kinds.values()].flatMap((m) => [...m.values()]) : this.list(kind);
    for (const o of existing) void handler({ type: 'ADDED', object: o });
    if (kind === '*') {
      this.all.add(handler);
      return () => void this.all.delete(handler);
    }
    let s = this.watchers.get(kind);
    if (!s) this.watchers.set(kind, (s = new Set()));
    s.add(handler);
    return () => void s!.delete(handler);
  }

  private emit(e: WatchEvent): Promise<unknown>[] {
    const work: Promise<unknown>[] = [];
    for (const h of [...(this.watchers.get(storeKind(e.object)) ?? []), ...this.all]) {
      const r = h(e);
      if (r instanceof Promise) work.push(r);
    }
    return work;
  }
}
