/**
 * What a Delta xDS client holds of one type (resource name → version), kept as a reference to
 * the snapshot map its last response brought it to — filtered by the stream's live subscription
 * for non-wildcard types — instead of a per-stream copy. Thousands of streams holding one
 * snapshot's clusters hold one map. The view turns into a map of its own (copied once) only when
 * the client's state diverges from a snapshot: resuming with `initial_resource_versions`, a
 * subscription change, a response written after the subscription changed.
 */
import type { EncodedResource } from '../resource';
import type { KnownVersions } from '../cache/snapshot-cache';

type ResourceMap = ReadonlyMap<string, EncodedResource>;

/** Name → version held by a Delta client, as a view of a snapshot map or a map of its own. */
export class HeldVersions implements KnownVersions {
  private base?: ResourceMap;
  /** The stream's subscribed names when the type is not wildcard (read live: mutate only after {@link own}). */
  private filter?: ReadonlySet<string>;
  private mine = new Map<string, string>();

  /** The snapshot map the client holds exactly (for its subscription), while it does. */
  get held(): ResourceMap | undefined {
    return this.base;
  }

  get(name: string): string | undefined {
    if (!this.base) return this.mine.get(name);
    if (this.filter && !this.filter.has(name)) return undefined;
    return this.base.get(name)?.version;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  *keys(): IterableIterator<string> {
    if (!this.base) {
      yield* this.mine.keys();
      return;
    }
    const base = this.base;
    const filter = this.filter;
    if (!filter) {
      yield* base.keys();
    } else if (filter.size < base.size) {
      for (const n of filter) if (base.has(n)) yield n;
    } else {
      for (const n of base.keys()) if (filter.has(n)) yield n;
    }
  }

  get size(): number {
    let n = 0;
    for (const _ of this.keys()) n += 1;
    return n;
  }

  /** The client now holds exactly `base` — restricted to `filter`, the stream's live subscription, when given. */
  hold(base: ResourceMap, filter?: ReadonlySet<string>): void {
    this.base = base;
    this.filter = filter;
    this.mine = new Map();
  }

  /** Whether the client holds exactly `map` (restricted to `filter` when given): every name at its version, nothing else. */
  equals(map: ResourceMap, filter?: ReadonlySet<string>): boolean {
    let n = 0;
    for (const name of this.keys()) {
      if ((filter && !filter.has(name)) || map.get(name)?.version !== this.get(name)) return false;
      n += 1;
    }
    if (!filter) return n === map.size;
    let want = 0;
    for (const name of filter) if (map.has(name)) want += 1;
    return n === want;
  }

  /** A copy that later changes to either side leave the other alone (a view stays a view). */
  clone(): HeldVersions {
    const c = new HeldVersions();
    c.base = this.base;
    c.filter = this.filter;
    c.mine = this.base ? new Map() : new Map(this.mine);
    return c;
  }

  /** Turns the view into a map of its own (before the subscription it reads changes). */
  own(): void {
    if (!this.base) return;
    const m = new Map<string, string>();
    for (const n of this.keys()) m.set(n, this.get(n)!);
    this.mine = m;
    this.base = undefined;
    this.filter = undefined;
  }

  set(name: string, version: string): void {
    this.own();
    this.mine.set(name, version);
  }

  delete(name: string): void {
    this.own();
    this.mine.delete(name);
  }
}
