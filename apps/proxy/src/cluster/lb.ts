/**
 * Load balancers over a cluster's usable hosts (Envoy's ROUND_ROBIN, LEAST_REQUEST, RANDOM,
 * RING_HASH). Each is rebuilt when the host set or health changes, never per request.
 */
import type { Host } from './host';

/** Picks a host; `hash` is the request's consistent-hash key (or -1). */
export interface LoadBalancer {
  pick(hash: number, attempt: number, avoid: readonly Host[] | null): Host | null;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Weighted round robin over an interleaved schedule. */
export class RoundRobin implements LoadBalancer {
  private readonly schedule: Host[];
  private next: number;
  constructor(hosts: readonly Host[]) {
    const g = hosts.reduce((a, h) => gcd(a, h.weight), 0) || 1;
    const counts = hosts.map((h) => Math.min(h.weight / g, 128));
    const total = counts.reduce((a, b) => a + b, 0);
    const sched: Host[] = [];
    // Smooth weighted round robin: spreads each host's share evenly over the cycle.
    const cur = counts.map(() => 0);
    for (let n = 0; n < total; n++) {
      let bi = 0;
      for (let i = 0; i < hosts.length; i++) {
        cur[i] += counts[i];
        if (cur[i] > cur[bi]) bi = i;
      }
      cur[bi] -= total;
      sched.push(hosts[bi]);
    }
    this.schedule = sched;
    this.next = Math.floor(Math.random() * Math.max(1, sched.length));
  }
  pick(_hash: number, _attempt: number, avoid: readonly Host[] | null): Host | null {
    const s = this.schedule;
    const n = s.length;
    if (n === 0) return null;
    for (let i = 0; i < n; i++) {
      const h = s[this.next++ % n];
      if (avoid === null || !avoid.includes(h)) return h;
    }
    return s[this.next++ % n];
  }
}

/** Uniform random (weighted). */
export class RandomLb implements LoadBalancer {
  private readonly cum: number[];
  private readonly total: number;
  constructor(private readonly hosts: readonly Host[]) {
    let t = 0;
    this.cum = hosts.map((h) => (t += h.weight));
    this.total = t;
  }
  pick(_hash: number, attempt: number, avoid: readonly Host[] | null): Host | null {
    if (!this.hosts.length) return null;
    for (let tries = 0; tries < 4; tries++) {
      const r = Math.random() * this.total;
      let i = 0;
      while (this.cum[i] <= r) i++;
      const h = this.hosts[i];
      if (avoid === null || !avoid.includes(h)) return h;
    }
    return this.hosts[Math.floor(Math.random() * this.hosts.length)] ?? null;
  }
}

/** Power of `choiceCount` random choices, fewest active requests wins. */
export class LeastRequest implements LoadBalancer {
  constructor(private readonly hosts: readonly Host[], private readonly choiceCount: number) {}
  pick(_hash: number, _attempt: number, avoid: readonly Host[] | null): Host | null {
    const hs = this.hosts;
    if (!hs.length) return null;
    let best: Host | null = null;
    for (let i = 0; i < this.choiceCount; i++) {
      const h = hs[Math.floor(Math.random() * hs.length)];
      if (avoid !== null && avoid.includes(h) && hs.length > 1) continue;
      if (best === null || h.activeRequests / h.weight < best.activeRequests / best.weight) best = h;
    }
    return best ?? hs[0];
  }
}

/** 32-bit FNV-1a of a string. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix32) so nearby keys spread over the ring
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Ketama-style consistent hash ring; hosts get ring entries in proportion to their weight. */
export class RingHash implements LoadBalancer {
  private readonly points: Uint32Array;
  private readonly owners: Host[];
  constructor(hosts: readonly Host[], minSize: number, maxSize: number) {
    const total = hosts.reduce((a, h) => a + h.weight, 0);
    const size = Math.min(maxSize, Math.max(minSize, hosts.length));
    const entries: [number, Host][] = [];
    for (const h of hosts) {
      const n = Math.max(1, Math.round((size * h.weight) / total));
      for (let i = 0; i < n; i++) entries.push([hash32(`${h.key}_${i}`), h]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(entries.map((e) => e[0]));
    this.owners = entries.map((e) => e[1]);
  }
  pick(hash: number, _attempt: number, avoid: readonly Host[] | null): Host | null {
    const n = this.points.length;
    if (!n) return null;
    if (hash < 0) hash = (Math.random() * 0xffffffff) >>> 0;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    for (let i = 0; i < n; i++) {
      const h = this.owners[(lo + i) % n];
      if (avoid === null || !avoid.includes(h)) return h;
    }
    return this.owners[lo % n];
  }
}
