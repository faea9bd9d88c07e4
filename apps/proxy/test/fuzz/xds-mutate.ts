/**
 * Mutations of real xDS resources for the proxy's config fuzzer: structure-aware edits of a
 * decoded message (fields dropped, replaced by hostile strings and numbers, oneof cases switched,
 * list elements duplicated or removed) and byte-level edits of its protobuf encoding (bit flips,
 * truncation, inserted and repeated slices). Deterministic for a seed (a small xorshift PRNG).
 */

/** xorshift32: a fixed seed gives the same sequence on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.s = x;
    return x;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }
}

const HOSTILE_STRINGS = [
  '', ' ', '*', '/', '//', '/..', '/%2e%2e/', '\\', '\u0000', '\r\n', 'a'.repeat(5000), '(', '[', '(?<', '.*', '^$', '0.0.0.0', '::', '::ffff:1.2.3.4', '256.1.1.1',
  '-1', '0', '1e999', 'NaN', 'true', 'type.googleapis.com/unknown.Type', 'envoy.filters.http.router', 'ROUND_ROBIN', 'ORIGINAL_DST', 'outbound|80||x', '🙂', '%', '%zz',
  'unix:/tmp/x', 'localhost', 'spiffe://cluster.local/ns/a/sa/b',
];
const HOSTILE_NUMBERS = [0, -1, 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 65535, 65536, 1e9, 0.5, -0.5];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (list of keys) to a node of the tree. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...at, k], out);
  return out;
}

function get(root: Json, p: (string | number)[]): Json {
  let v: Json = root;
  for (const k of p) v = (v as Record<string | number, Json>)[k];
  return v;
}

/** Deep copy of JSON-like data (Buffers become arrays of bytes, as protobufjs accepts). */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && x.type === 'Buffer' && Array.isArray(x.data) ? x.data : x))) as T;
}

/** Applies 1–3 structure-aware edits to a copy of `msg` and returns it (with a description). */
export function mutateMessage(msg: object, rng: Rng): { value: object; what: string } {
  const root = clone(msg) as Json;
  const done: string[] = [];
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const all = paths(root).filter((p) => p.length > 0);
    if (!all.length) break;
    const p = rng.pick(all);
    const parent = get(root, p.slice(0, -1)) as Record<string | number, Json> | Json[];
    const key = p[p.length - 1];
    const cur = (parent as Record<string | number, Json>)[key];
    const where = p.join('.');
    switch (rng.int(8)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete (parent as Record<string, Json>)[key as string];
        done.push(`drop ${where}`);
        break;
      case 1: {
        const s = rng.pick(HOSTILE_STRINGS);
        (parent as Record<string | number, Json>)[key] = typeof cur === 'number' ? Number(s) || rng.pick(HOSTILE_NUMBERS) : s;
        done.push(`string ${where}`);
        break;
      }
      case 2:
        (parent as Record<string | number, Json>)[key] = rng.pick(HOSTILE_NUMBERS);
        done.push(`number ${where}`);
        break;
      case 3:
        if (Array.isArray(cur) && cur.length) {
          cur.push(clone(rng.pick(cur)));
          done.push(`dup ${where}[]`);
        } else if (Array.isArray(parent)) {
          parent.push(clone(cur));
          done.push(`dup ${where}`);
        }
        break;
      case 4:
        if (Array.isArray(cur)) {
          cur.length = 0;
          done.push(`empty ${where}`);
        } else if (cur !== null && typeof cur === 'object') {
          (parent as Record<string | number, Json>)[key] = {};
          done.push(`empty ${where}`);
        }
        break;
      case 5: {
        // a oneof discriminator pointing at another case (or a field that is not there)
        if (typeof cur === 'string' && !Array.isArray(parent)) {
          const siblings = Object.keys(parent).filter((k) => k !== key);
          (parent as Record<string, Json>)[key as string] = siblings.length && rng.chance(0.7) ? rng.pick(siblings) : rng.pick(HOSTILE_STRINGS);
          done.push(`case ${where}`);
        }
        break;
      }
      case 6:
        if (typeof cur === 'boolean') {
          (parent as Record<string | number, Json>)[key] = !cur;
          done.push(`flip ${where}`);
        } else if (typeof cur === 'number') {
          (parent as Record<string | number, Json>)[key] = -cur || 1;
          done.push(`negate ${where}`);
        }
        break;
      default: {
        // graft: a subtree from elsewhere in the same resource
        const src = rng.pick(all);
        (parent as Record<string | number, Json>)[key] = clone(get(root, src));
        done.push(`graft ${src.join('.')} → ${where}`);
      }
    }
  }
  return { value: root as object, what: done.join('; ') || 'none' };
}

/** Applies 1–4 byte-level edits to a copy of `bytes`. */
export function mutateBytes(bytes: Uint8Array, rng: Rng): { value: Uint8Array; what: string } {
  let b = Buffer.from(bytes);
  const done: string[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    if (b.length === 0) b = Buffer.from([rng.int(256)]);
    const at = rng.int(b.length);
    switch (rng.int(6)) {
      case 0: b[at] ^= 1 << rng.int(8); done.push(`bit@${at}`); break;
      case 1: b[at] = rng.int(256); done.push(`byte@${at}`); break;
      case 2: b = b.subarray(0, at); done.push(`truncate@${at}`); break;
      case 3: {
        const ins = Buffer.from(Array.from({ length: 1 + rng.int(8) }, () => rng.int(256)));
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        done.push(`insert@${at}`);
        break;
      }
      case 4: {
        const end = Math.min(b.length, at + 1 + rng.int(64));
        b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
        done.push(`repeat@${at}-${end}`);
        break;
      }
      default: {
        // a huge length prefix (varint) where a length was
        b[at] = 0xff;
        done.push(`varint@${at}`);
      }
    }
  }
  return { value: new Uint8Array(b), what: done.join('; ') };
}
