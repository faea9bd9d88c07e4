/**
 * The push queue (Istio's `PushQueue`): proxies waiting for a push, each at most once — a proxy
 * already waiting merges the new request into its pending one (triggers united, the earliest
 * change time kept) — processed in order in slices of bounded time, yielding to the event loop
 * between slices so streams keep reading ACKs, answering keepalive pings and writing at their
 * own pace while a large push is generated.
 */

/** Why a proxy is to be pushed. */
export interface PushRequest {
  /** Numbers of the pushes merged into this request (ascending). */
  pushes: number[];
  /** Config keys whose change caused it (`Kind/ns/name`), united over merged pushes. */
  triggers: Set<string>;
  /** Time of the first change that caused it (for convergence time). */
  since?: number;
  /** When the proxy joined the queue. */
  queuedAt: number;
}

/** Options of {@link PushQueue}. */
export interface PushQueueOptions {
  /** Longest time one slice processes proxies before yielding (ms). */
  sliceMs?: number;
  /** Called when the queue becomes empty. */
  onIdle?: () => void;
}

/** A FIFO of proxy ids with merging, drained cooperatively. */
export class PushQueue {
  private readonly pending = new Map<string, PushRequest>();
  private scheduled = false;
  private stopped = false;
  private readonly sliceMs: number;
  /** Longest slice so far (ms), for metrics and tests. */
  longestSliceMs = 0;
  processed = 0;

  constructor(private readonly process: (id: string, req: PushRequest) => void, private readonly opts: PushQueueOptions = {}) {
    this.sliceMs = opts.sliceMs ?? 10;
  }

  /** Queues a proxy, merging with a request it already waits with. */
  enqueue(id: string, push: number, triggers: Iterable<string>, since?: number): void {
    if (this.stopped) return;
    const cur = this.pending.get(id);
    if (cur) {
      if (cur.pushes[cur.pushes.length - 1] !== push) cur.pushes.push(push);
      for (const t of triggers) cur.triggers.add(t);
      if (since !== undefined) cur.since = cur.since === undefined ? since : Math.min(cur.since, since);
    } else {
      this.pending.set(id, { pushes: [push], triggers: new Set(triggers), since, queuedAt: Date.now() });
    }
    this.schedule();
  }

  /** Drops a proxy's pending request (it disconnected). */
  remove(id: string): void {
    this.pending.delete(id);
  }

  /** Number of proxies waiting. */
  get size(): number {
    return this.pending.size;
  }

  /** True while a proxy is waiting. */
  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** Stops processing; pending requests are dropped. */
  stop(): void {
    this.stopped = true;
    this.pending.clear();
  }

  /** Processes everything now, without yielding (for tests and shutdown). */
  drainNow(): void {
    while (this.pending.size) this.slice(Number.POSITIVE_INFINITY);
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.slice(this.sliceMs);
      if (this.pending.size) this.schedule();
      else this.opts.onIdle?.();
    });
  }

  private slice(budgetMs: number): void {
    const t0 = performance.now();
    for (const [id, req] of this.pending) {
      this.pending.delete(id);
      this.processed += 1;
      this.process(id, req);
      if (performance.now() - t0 >= budgetMs) break;
    }
    this.longestSliceMs = Math.max(this.longestSliceMs, performance.now() - t0);
  }
}
