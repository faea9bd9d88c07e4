/**
 * The cache of encoded resources shared by every proxy and every push (Istio's `XdsCache`):
 * entries are found by a typed {@link CacheKey} and evicted by dependency — a push clears the
 * entries built from the config it changed ({@link XdsCache.clear}), and nothing else is
 * recomputed or rehashed. Entries a push no longer asks for are dropped after
 * {@link XdsCache.sweep} finds them unused for a whole push.
 */
import { createHash } from 'node:crypto';
import { encodeMessage, encodeResource, TYPE_PREFIX, type EncodedResource, type ResourceMessages, type ResourceTypeUrl } from '@tsmesh/xds';
import type { CacheFamily, CacheKey, Dependency } from './keys';

interface Entry {
  value: unknown;
  deps: readonly Dependency[];
  /** The sweep generation in which the entry was last used. */
  used: number;
}

/** Hit / miss / eviction counts per family (for metrics and tests). */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
}

/** A cache of encoded resources and encoded message fragments, by typed key. */
export class XdsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byDep = new Map<Dependency, Set<string>>();
  private generation = 0;
  private readonly stats = new Map<CacheFamily, { hits: number; misses: number; evictions: number }>();
  /** When false every lookup builds anew (to compare cached and fresh output in tests). */
  enabled = true;

  /** The encoded resource for `key`, built with `make` on a miss. */
  resource<T extends ResourceTypeUrl>(typeUrl: T, key: CacheKey, make: () => ResourceMessages[T]): EncodedResource {
    return this.lookup(key, () => encodeResource(typeUrl, make()));
  }

  /** The encoded bytes of a message of `messageType` (a fragment to concatenate), built on a miss. */
  bytes(messageType: string, key: CacheKey, make: () => object): Uint8Array {
    return this.lookup(key, () => encodeMessage(TYPE_PREFIX + messageType, make()));
  }

  /** Any value made only from the key's inputs. */
  lookup<T>(key: CacheKey, make: () => T): T {
    const st = this.statsOf(key.family);
    if (!this.enabled) {
      st.misses += 1;
      return make();
    }
    const id = `${key.family}\0${key.id()}`;
    const hit = this.entries.get(id);
    if (hit) {
      st.hits += 1;
      hit.used = this.generation;
      return hit.value as T;
    }
    st.misses += 1;
    const value = make();
    const deps = key.dependencies();
    this.entries.set(id, { value, deps, used: this.generation });
    for (const d of deps) {
      let s = this.byDep.get(d);
      if (!s) this.byDep.set(d, (s = new Set()));
      s.add(id);
    }
    return value;
  }

  /** Evicts every entry built from one of `deps`; returns how many. */
  clear(deps: Iterable<Dependency>): number {
    let n = 0;
    for (const d of deps) {
      const ids = this.byDep.get(d);
      if (!ids) continue;
      this.byDep.delete(d);
      for (const id of ids) if (this.evict(id)) n += 1;
    }
    return n;
  }

  /** Evicts everything (a change whose effect cannot be narrowed, such as a Namespace or mesh option). */
  clearAll(): void {
    for (const id of this.entries.keys()) this.statsOf(id.slice(0, id.indexOf('\0')) as CacheFamily).evictions += 1;
    this.entries.clear();
    this.byDep.clear();
  }

  /**
   * Ends a push: entries not used since the previous sweep (a removed service, a superseded
   * DestinationRule reference) are dropped, so the cache holds what the current pushes use.
   * Call it after a push that regenerated every proxy.
   */
  sweep(): number {
    let n = 0;
    for (const [id, e] of this.entries) if (e.used < this.generation && this.evict(id)) n += 1;
    this.generation += 1;
    return n;
  }

  /** Counts per family. */
  statistics(): Record<string, CacheStats> {
    const sizes = new Map<string, number>();
    for (const id of this.entries.keys()) {
      const f = id.slice(0, id.indexOf('\0'));
      sizes.set(f, (sizes.get(f) ?? 0) + 1);
    }
    const out: Record<string, CacheStats> = {};
    for (const [f, s] of this.stats) out[f] = { ...s, size: sizes.get(f) ?? 0 };
    return out;
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.size;
  }

  private evict(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    this.entries.delete(id);
    for (const d of e.deps) {
      const s = this.byDep.get(d);
      if (!s) continue;
      s.delete(id);
      if (!s.size) this.byDep.delete(d);
    }
    this.statsOf(id.slice(0, id.indexOf('\0')) as CacheFamily).evictions += 1;
    return true;
  }

  private statsOf(f: CacheFamily) {
    let s = this.stats.get(f);
    if (!s) this.stats.set(f, (s = { hits: 0, misses: 0, evictions: 0 }));
    return s;
  }
}

/**
 * A resource from encoded fragments: protobuf merges concatenated messages and appends repeated
 * fields, so a RouteConfiguration can be built from its header and one fragment per virtual host.
 * `message` carries only the name (consumers of RDS messages read the encoded form).
 */
export function concatenated<T extends ResourceTypeUrl>(typeUrl: T, name: string, parts: readonly Uint8Array[]): EncodedResource {
  const value = Buffer.concat(parts);
  const version = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return Object.freeze({ typeUrl, name, any: { type_url: typeUrl, value }, version, message: { name } as ResourceMessages[T] });
}
