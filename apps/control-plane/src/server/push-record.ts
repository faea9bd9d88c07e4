/**
 * Push records: for each of the last pushes, what triggered it (the changed resources), which
 * proxies it reached and why each was chosen, what types, resources and bytes each got, when
 * each ACKed, and how long each step took (debounce, validation, push context, cache eviction,
 * generation, snapshots, sending, convergence). Served as `/debug/push_status`.
 */
import type { PushRecord, PushSteps, PushTarget, SentResponse } from '@tsmesh/xds';
import { TYPE_SHORT_NAME, type ResourceTypeUrl } from '@tsmesh/xds';

export type { PushRecord, PushSteps, PushTarget } from '@tsmesh/xds';

interface Live {
  record: PushRecord;
  t0: number;
  firstChangeAt: number;
  targets: Map<string, PushTarget>;
  done: boolean;
}

/** Keeps the last `limit` pushes. */
export class PushRecorder {
  private readonly live = new Map<number, Live>();
  private readonly order: number[] = [];

  constructor(private readonly limit: number) {}

  /** A push started. */
  begin(o: { push: number; version: string; trigger: string[]; events: number; firstChangeAt: number; proxies: number; steps: PushSteps; evicted: number | 'all'; t0: number }): void {
    const record: PushRecord = {
      push: o.push, version: o.version, at: new Date().toISOString(), trigger: o.trigger, events: o.events, proxies: o.proxies,
      pushed: 0, unchanged: 0, failed: [], durationMs: 0,
      steps: { ...o.steps, debounceMs: Math.max(0, Date.now() - o.firstChangeAt - (performance.now() - o.t0)), generateMs: 0, snapshotMs: 0 },
      bytes: 0, targets: [],
    };
    this.live.set(o.push, { record, t0: o.t0, firstChangeAt: o.firstChangeAt, targets: new Map(), done: false });
    this.order.push(o.push);
    while (this.order.length > this.limit) this.live.delete(this.order.shift()!);
  }

  /** A proxy was generated for push `n`. */
  generated(n: number, generateMs: number, changed: boolean, snapshotMs = 0): void {
    const l = this.live.get(n);
    if (!l) return;
    l.record.steps.generateMs += generateMs;
    l.record.steps.snapshotMs += snapshotMs;
    if (changed) l.record.pushed += 1;
    else l.record.unchanged += 1;
  }

  /** Push `n` gave a proxy a new snapshot. */
  target(n: number, proxy: string, t: { why: string; types: string[]; merged?: number[] }): void {
    const l = this.live.get(n);
    if (!l) return;
    l.targets.set(proxy, { proxy, why: t.why, types: t.types, ...(t.merged ? { merged: t.merged } : {}), sent: {}, acked: {} });
  }

  /** Generation for a proxy failed; it keeps its last config. */
  failed(n: number, proxy: string, error: string): void {
    this.live.get(n)?.record.failed.push({ proxy, error });
  }

  /** A response of push `n` was written to a proxy. */
  sent(n: number, proxy: string, s: SentResponse): void {
    const l = this.live.get(n);
    const t = l?.targets.get(proxy);
    if (!l || !t) return;
    const short = TYPE_SHORT_NAME[s.typeUrl as ResourceTypeUrl] ?? s.typeUrl;
    t.sent[short] = { version: s.version, resources: s.resources, removed: s.removed, bytes: s.bytes, sendMs: Math.round(s.sendMs * 10) / 10, at: new Date().toISOString() };
    l.record.bytes += s.bytes;
    l.record.steps.sendMs = Math.round(performance.now() - l.t0);
  }

  /** A proxy ACKed a type of push `n`. */
  acked(n: number, proxy: string, type: string): void {
    const l = this.live.get(n);
    const t = l?.targets.get(proxy);
    if (!l || !t || t.acked[type] !== undefined) return;
    const ms = Date.now() - l.firstChangeAt;
    t.acked[type] = ms;
    l.record.steps.convergedMs = Math.max(l.record.steps.convergedMs ?? 0, ms);
  }

  /** The queue drained: pushes up to `n` finished generating. Returns the latest record. */
  finishGeneration(n: number): PushRecord | undefined {
    let latest: PushRecord | undefined;
    for (const [k, l] of this.live) {
      if (k > n || l.done) continue;
      l.done = true;
      l.record.durationMs = Math.round(performance.now() - l.t0);
      l.record.steps.generateMs = Math.round(l.record.steps.generateMs * 10) / 10;
      l.record.steps.snapshotMs = Math.round(l.record.steps.snapshotMs * 10) / 10;
      latest = l.record;
    }
    return latest;
  }

  /** Records, newest first, each with its targets (optionally only those for one proxy). */
  list(o: { proxy?: string; limit?: number; targets?: boolean } = {}): PushRecord[] {
    const out: PushRecord[] = [];
    for (const k of [...this.order].reverse().slice(0, o.limit ?? this.limit)) {
      const l = this.live.get(k)!;
      const round = (x: number) => Math.round(x * 10) / 10;
      const steps = { ...l.record.steps, validateMs: round(l.record.steps.validateMs), pushContextMs: round(l.record.steps.pushContextMs), invalidateMs: round(l.record.steps.invalidateMs), debounceMs: Math.round(l.record.steps.debounceMs) };
      const targets = o.targets === false ? [] : [...l.targets.values()].filter((t) => !o.proxy || t.proxy === o.proxy);
      out.push({ ...l.record, steps, targets });
    }
    return out;
  }

  /** The record of push `n`. */
  get(n: number): { record: PushRecord; targets: ReadonlyMap<string, PushTarget> } | undefined {
    const l = this.live.get(n);
    return l ? { record: l.record, targets: l.targets } : undefined;
  }

  /** Numbers of the recorded pushes whose trigger includes `key`, newest first. */
  pushesOf(key: string): number[] {
    return [...this.order].reverse().filter((k) => this.live.get(k)!.record.trigger.includes(key));
  }
}
