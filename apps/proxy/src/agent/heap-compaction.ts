/**
 * Heap compaction after config: one full, memory-reducing garbage collection once the config has
 * been quiet for a while after an update that grew the heap.
 *
 * Applying a large config allocates far more than it keeps: the decoded xDS messages, the
 * intermediate specs and the compiled tables of the versions replaced. V8's ordinary collections
 * free those objects but keep the pages they occupied committed, and an idle proxy runs no
 * collection that would give them back. With 1,000 services the resident set stays ~16 MB above
 * what the config holds (apps/proxy/README.md, Memory). A last-resort collection (V8's own for
 * memory pressure: compacting, every space, the page pools released) returns them.
 *
 * It needs Node's `--expose-gc` (apps/proxy/launch.json has it); without it compaction is off
 * and says so in `/memory`. A compaction stops the event loop for it: 10–50 ms, depending on the
 * heap. So it waits for the config to be quiet (`--heap-compaction`, default 1s after the last
 * applied update), runs at most once per `minIntervalMs`, and only when the committed heap grew
 * by `minGrowthBytes` since the last one (EDS churn that keeps the heap level never triggers it).
 */
/** The `gc` function `--expose-gc` installs, with V8's options. */
type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

export interface HeapCompactionOptions {
  /** Quiet time after the last applied update; null: off. */
  quietMs: number | null;
  /** Growth of the committed heap since the last compaction that makes one worth its pause. */
  minGrowthBytes?: number;
  /** At most one compaction per this long. */
  minIntervalMs?: number;
  /** The collector (default: `globalThis.gc` when `--expose-gc` installed it). */
  gc?: GcFunction;
  /** Clock and heap size, for tests. */
  now?: () => number;
  heapSize?: () => number;
}

/** What `/memory` and `/stats` report about it. */
export interface HeapCompactionStatus {
  /** 'on', 'off' (by flag) or 'unavailable' (no `--expose-gc`). */
  mode: 'on' | 'off' | 'unavailable';
  compactions: number;
  lastPauseMs: number;
  /** Committed heap returned by the last compaction. */
  lastReleasedBytes: number;
}

const committedHeap = () => process.memoryUsage().heapTotal;

export class HeapCompaction {
  private readonly gc: GcFunction | undefined;
  private readonly quietMs: number | null;
  private readonly minGrowth: number;
  private readonly minInterval: number;
  private readonly now: () => number;
  private readonly heapSize: () => number;
  private timer: NodeJS.Timeout | null = null;
  /** Committed heap right after the last compaction (0 before the first: the first config always compacts). */
  private baseline = 0;
  private lastAt = Number.NEGATIVE_INFINITY;
  private readonly state: HeapCompactionStatus;

  constructor(o: HeapCompactionOptions) {
    this.gc = o.gc ?? (globalThis as { gc?: GcFunction }).gc;
    this.quietMs = o.quietMs;
    this.minGrowth = o.minGrowthBytes ?? 4 * 1024 * 1024;
    this.minInterval = o.minIntervalMs ?? 30_000;
    this.now = o.now ?? Date.now;
    this.heapSize = o.heapSize ?? committedHeap;
    this.state = { mode: o.quietMs === null ? 'off' : this.gc ? 'on' : 'unavailable', compactions: 0, lastPauseMs: 0, lastReleasedBytes: 0 };
  }

  status(): Readonly<HeapCompactionStatus> {
    return this.state;
  }

  /** Called for every applied xDS update: (re)starts the quiet timer. */
  configApplied(): void {
    if (this.state.mode !== 'on') return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.due(), this.quietMs!);
      this.timer.unref();
    }
  }

  /** The quiet time has passed: compacts now, later (the interval), or not at all (no growth). */
  private due(): void {
    this.timer = null;
    const wait = this.lastAt + this.minInterval - this.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.due(), wait);
      this.timer.unref();
      return;
    }
    const before = this.heapSize();
    if (before - this.baseline < this.minGrowth) return;
    const t0 = performance.now();
    this.gc!({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    this.state.lastPauseMs = Math.round((performance.now() - t0) * 10) / 10;
    this.baseline = this.heapSize();
    this.state.lastReleasedBytes = Math.max(0, before - this.baseline);
    this.state.compactions++;
    this.lastAt = this.now();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
