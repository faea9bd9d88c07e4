/**
 * Subscriptions shared between streams: thousands of Delta streams of one scope subscribe to the
 * same few thousand EDS names, and each stream holding its own set of them costs more than every
 * resource it names. A stream's subscribed set is immutable once interned here — a change makes
 * a new set (copy on write) — and equal sets are one object, held as long as a stream holds it.
 */

/** An order-independent fingerprint of a set of names (size and a sum of per-name FNV-1a hashes). */
function fingerprint(names: ReadonlySet<string>): string {
  let sum = 0;
  let xor = 0;
  for (const n of names) {
    let h = 0x811c9dc5;
    for (let i = 0; i < n.length; i++) h = Math.imul(h ^ n.charCodeAt(i), 0x01000193);
    sum = (sum + (h >>> 0)) % 0x100000000;
    xor ^= h;
  }
  return `${names.size}:${sum}:${xor >>> 0}`;
}

function equal(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Interns sets of names: equal sets become one shared, never mutated, object. */
export class NameSets {
  private readonly byPrint = new Map<string, WeakRef<ReadonlySet<string>>[]>();
  private readonly gone = new FinalizationRegistry<string>((print) => this.prune(print));

  /** The shared set equal to `names` (which the caller gives up and must not mutate afterwards). */
  intern(names: Set<string>): ReadonlySet<string> {
    if (names.size === 0) return EMPTY;
    const print = fingerprint(names);
    const list = this.byPrint.get(print);
    if (list) {
      for (const ref of list) {
        const s = ref.deref();
        if (s && equal(s, names)) return s;
      }
    }
    const mine: ReadonlySet<string> = names;
    if (list) list.push(new WeakRef(mine));
    else this.byPrint.set(print, [new WeakRef(mine)]);
    this.gone.register(mine, print);
    return mine;
  }

  /** Distinct live sets (for tests). */
  get size(): number {
    let n = 0;
    for (const list of this.byPrint.values()) for (const r of list) if (r.deref()) n += 1;
    return n;
  }

  private prune(print: string): void {
    const list = this.byPrint.get(print)?.filter((r) => r.deref());
    if (list?.length) this.byPrint.set(print, list);
    else this.byPrint.delete(print);
  }
}

const EMPTY: ReadonlySet<string> = new Set();
