/**
 * A cluster at run time: its hosts (kept across config versions so pools, outlier state and
 * counters survive), the load balancer over the usable ones, circuit breaker counters and
 * outlier detection.
 */
import { lookup } from 'node:dns/promises';
import type { H1Pool } from '../http1/client';
import type { H2Pool } from '../http2/client';
import type { ClusterSpec, EndpointSet } from '../config/cluster';
import { Host } from './host';
import { ClusterStats } from './stats';
import { LeastRequest, RandomLb, RingHash, RoundRobin, type LoadBalancer } from './lb';
import { requestOverflow } from './limits';

/** Result of a request attempt, for outlier detection. */
export const enum Outcome { Success, Http5xx, GatewayFailure, LocalFailure }

const EMPTY_LB: LoadBalancer = { pick: () => null };

/** A runtime cluster. */
export class UpstreamCluster {
  spec: ClusterSpec;
  readonly stats = new ClusterStats();
  /** Hosts by priority. */
  private priorities: Host[][] = [];
  private readonly byKey = new Map<string, Host>();
  private lb: LoadBalancer = EMPTY_LB;
  private lbDirty = true;
  /** Active requests, pending (beyond the connection limit) and retries, for circuit breaking. */
  rqActive = 0;
  retriesActive = 0;
  cxActive = 0;
  endpointsVersion = '';
  /** False until the first endpoints arrive (EDS) or resolve (DNS). */
  warmed = false;
  private outlierTimer: NodeJS.Timeout | null = null;
  private dnsTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(spec: ClusterSpec) {
    this.spec = spec;
    this.applySpec(spec, true);
  }

  /** Applies a new version of the cluster's config. */
  update(spec: ClusterSpec): void {
    this.spec = spec;
    this.applySpec(spec, false);
  }

  private applySpec(spec: ClusterSpec, first: boolean): void {
    if (this.outlierTimer) clearInterval(this.outlierTimer);
    this.outlierTimer = null;
    if (spec.outlier) {
      this.outlierTimer = setInterval(outlierSweep, spec.outlier.intervalMs, this);
      this.outlierTimer.unref();
    }
    if (this.dnsTimer) clearInterval(this.dnsTimer);
    this.dnsTimer = null;
    if (spec.type === 'ORIGINAL_DST') {
      this.warmed = true;
      if (!this.sweepTimer) {
        this.sweepTimer = setInterval(sweepOriginalDst, 5000, this);
        this.sweepTimer.unref();
      }
    } else if (spec.staticEndpoints) {
      if (spec.type === 'STATIC') this.setEndpoints(spec.staticEndpoints);
      else {
        void this.resolveDns();
        this.dnsTimer = setInterval(() => void this.resolveDns(), spec.dnsRefreshMs);
        this.dnsTimer.unref();
      }
    } else if (!first) {
      this.lbDirty = true;
    }
  }

  private async resolveDns(): Promise<void> {
    const set = this.spec.staticEndpoints;
    if (!set || this.closed) return;
    const prios = await Promise.all(set.priorities.map(async (hosts) => {
      const out = [];
      for (const h of hosts) {
        try {
          const addrs = await lookup(h.address, { all: true });
          const use = this.spec.type === 'LOGICAL_DNS' ? addrs.slice(0, 1) : addrs;
          for (const a of use) out.push({ ...h, address: a.address });
        } catch {
          // unresolvable names contribute no hosts until the next refresh
        }
      }
      return out;
    }));
    if (!this.closed) this.setEndpoints({ version: set.version, priorities: prios });
  }

  /** Replaces the endpoints; hosts that stay keep their pool and outlier state. */
  setEndpoints(set: EndpointSet): void {
    const keep = new Set<string>();
    this.priorities = set.priorities.map((hosts) => hosts.map((hs) => {
      const key = hs.address.includes(':') ? `[${hs.address}]:${hs.port}` : `${hs.address}:${hs.port}`;
      let h = this.byKey.get(key);
      if (!h) {
        h = new Host(hs.address, hs.port, hs);
        this.byKey.set(key, h);
      } else {
        h.weight = hs.weight;
        h.healthy = hs.healthy;
        h.health = hs.health;
        h.metadata = hs.metadata;
      }
      keep.add(key);
      return h;
    }));
    for (const [k, h] of this.byKey) {
      if (!keep.has(k)) {
        h.close();
        this.byKey.delete(k);
      }
    }
    this.endpointsVersion = set.version;
    this.warmed = true;
    this.lbDirty = true;
  }

  /** All hosts (for /clusters). */
  hosts(): Host[] {
    return [...this.byKey.values()];
  }

  /** Marks the load balancer stale (health or ejection changed). */
  invalidate(): void {
    this.lbDirty = true;
  }

  private rebuild(): void {
    this.lbDirty = false;
    const now = Date.now();
    let chosen: Host[] = [];
    let firstNonEmpty: Host[] | null = null;
    for (const p of this.priorities) {
      if (!p.length) continue;
      firstNonEmpty ??= p;
      const usable = p.filter((h) => h.healthy && !h.ejected(now));
      if (!usable.length) continue; // fail over to the next priority
      // Panic mode (Envoy's healthy_panic_threshold): below it, balance over all hosts of the priority.
      chosen = (100 * usable.length) / p.length < this.spec.panicThresholdPercent ? p.slice() : usable;
      break;
    }
    if (!chosen.length && firstNonEmpty && this.spec.panicThresholdPercent > 0) chosen = firstNonEmpty.slice();
    switch (this.spec.lb) {
      case 'least_request': this.lb = new LeastRequest(chosen, this.spec.choiceCount); break;
      case 'random': this.lb = new RandomLb(chosen); break;
      case 'ring_hash': this.lb = new RingHash(chosen, this.spec.ringMinSize, this.spec.ringMaxSize); break;
      default: this.lb = new RoundRobin(chosen);
    }
  }

  /** Picks a host (null: no healthy upstream). */
  pick(hash: number, attempt: number, avoid: readonly Host[] | null): Host | null {
    if (this.lbDirty) this.rebuild();
    return this.lb.pick(hash, attempt, avoid);
  }

  /** The host for an ORIGINAL_DST connection's destination, created on first use. */
  originalDst(address: string, port: number): Host {
    const key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    let h = this.byKey.get(key);
    if (!h) {
      h = new Host(address, port, null);
      this.byKey.set(key, h);
    }
    h.lastUsed = Date.now();
    return h;
  }

  /** Drops ORIGINAL_DST hosts idle for longer than the cleanup interval. */
  sweepIdle(): void {
    const cutoff = Date.now() - 5000;
    for (const [k, h] of this.byKey) {
      if (h.activeRequests === 0 && h.lastUsed < cutoff) {
        h.close();
        this.byKey.delete(k);
      }
    }
  }

  /** The pool for a host (HTTP/1.1 or HTTP/2). */
  dispatcher(h: Host, http2: boolean): H1Pool | H2Pool {
    return h.dispatcher(this.spec, http2, this.stats);
  }

  /** True when the circuit breaker refuses a new request ({@link requestOverflow} of `limits.ts`; counted). */
  requestOverflow(http2: boolean): boolean {
    return requestOverflow(this, this.spec.limits, http2);
  }

  /** Records an attempt's outcome for outlier detection. */
  report(h: Host, o: Outcome): void {
    const od = this.spec.outlier;
    h.rqTotal++;
    if (o === Outcome.Success) {
      h.consecutive5xx = 0;
      h.consecutiveGatewayFailure = 0;
      return;
    }
    h.rqError++;
    if (!od) return;
    h.consecutive5xx++;
    if (o === Outcome.GatewayFailure || o === Outcome.LocalFailure) h.consecutiveGatewayFailure++;
    else h.consecutiveGatewayFailure = 0;
    const now = Date.now();
    if (h.ejected(now)) return;
    if (od.consecutive5xx > 0 && h.consecutive5xx >= od.consecutive5xx && enforce(od.enforcing5xx)) {
      this.eject(h, now, 'consecutive_5xx');
    } else if (od.consecutiveGatewayFailure > 0 && h.consecutiveGatewayFailure >= od.consecutiveGatewayFailure && enforce(od.enforcingGatewayFailure)) {
      this.eject(h, now, 'consecutive_gateway_failure');
    }
  }

  private eject(h: Host, now: number, why: 'consecutive_5xx' | 'consecutive_gateway_failure'): void {
    const od = this.spec.outlier!;
    const total = this.byKey.size;
    let ejected = 0;
    for (const x of this.byKey.values()) if (x.ejected(now)) ejected++;
    // max_ejection_percent, but Envoy always allows ejecting at least one host
    if (ejected > 0 && ((ejected + 1) * 100) / total > od.maxEjectionPercent) return;
    h.ejectionCount++;
    h.ejectedUntil = now + Math.min(od.baseEjectionMs * h.ejectionCount, Math.max(od.maxEjectionTimeMs, od.baseEjectionMs));
    h.consecutive5xx = 0;
    h.consecutiveGatewayFailure = 0;
    this.stats.outlier_detection_ejections_enforced_total++;
    this.stats[`outlier_detection_ejections_enforced_${why}`]++;
    this.lbDirty = true;
  }

  /** Interval work of outlier detection: return hosts whose ejection ended; decay ejection multipliers. */
  outlierTick(): void {
    const now = Date.now();
    for (const h of this.byKey.values()) {
      if (h.ejectedUntil !== 0 && h.ejectedUntil <= now) {
        h.ejectedUntil = 0;
        this.lbDirty = true;
      } else if (h.ejectedUntil === 0 && h.ejectionCount > 0 && h.consecutive5xx === 0) {
        h.ejectionCount--;
      }
    }
  }

  /** Ejected hosts now. */
  ejectedCount(): number {
    const now = Date.now();
    let n = 0;
    for (const h of this.byKey.values()) if (h.ejected(now)) n++;
    return n;
  }

  /** Closes pools and timers. */
  close(): void {
    this.closed = true;
    if (this.outlierTimer) clearInterval(this.outlierTimer);
    if (this.dnsTimer) clearInterval(this.dnsTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const h of this.byKey.values()) h.close();
    this.byKey.clear();
  }
}

function enforce(percent: number): boolean {
  return percent >= 100 || Math.random() * 100 < percent;
}

function outlierSweep(c: UpstreamCluster): void {
  c.outlierTick();
}

function sweepOriginalDst(c: UpstreamCluster): void {
  c.sweepIdle();
}
