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
 * and says so in `/memory`. It has two costs. It stops the event loop: 10–50 ms, depending on the
 * heap. And the code that runs after it is slower: V8's memory-reducing collection leaves some
 * property stores going through its runtime (`cost.ts --instructions`: one proxy 91.7k →
 * 97.0k instructions per request afterwards, whether it ran before traffic or during it). So it
 * runs only for a config that grew the committed heap by `minGrowthBytes` (8 MB) since the
 * start or the last compaction (1,000 services grow it by ~27 MB and get 15 MB of RSS back; a
 * sidecar's few services do not reach it), once the config has been quiet for
 * `--heap-compaction` (default 1s after the last applied update), at most once per
 * `minIntervalMs`. EDS churn that keeps the heap level never triggers it.
 */
/** The `gc` function `--expose-gc` installs, with V8's options. */
type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

export interface HeapCompactionOptions {
  /** Quiet time after the last applied update; null: off. */
  quietMs: number | null;
  /** Growth of the committed heap since the start, or the last compaction, that makes one worth its cost. */
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
  /** Committed heap at the start, then right after the last compaction. */
  private baseline: number;
  private lastAt = Number.NEGATIVE_INFINITY;
  private readonly state: HeapCompactionStatus;

  constructor(o: HeapCompactionOptions) {
    this.gc = o.gc ?? (globalThis as { gc?: GcFunction }).gc;
    this.quietMs = o.quietMs;
    this.minGrowth = o.minGrowthBytes ?? 8 * 1024 * 1024;
    this.minInterval = o.minIntervalMs ?? 30_000;
    this.now = o.now ?? Date.now;
    this.heapSize = o.heapSize ?? committedHeap;
    this.baseline = this.heapSize();
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
