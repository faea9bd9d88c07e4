import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HeapCompaction } from './heap-compaction';

const MB = 1024 * 1024;

describe('heap compaction after config', () => {
  afterEach(() => vi.useRealTimers());

  it('waits for the config to be quiet, compacts once per burst, only on growth since the start or the last one, at most once per interval', () => {
    vi.useFakeTimers();
    let heap = 20 * MB; // at the start
    const calls: unknown[] = [];
    const h = new HeapCompaction({
      quietMs: 1000, minGrowthBytes: 4 * MB, minIntervalMs: 30_000, now: () => Date.now(),
      heapSize: () => heap, gc: (o) => { calls.push(o); heap = 24 * MB; },
    });
    expect(h.status().mode).toBe('on');
    // a small config: the heap grew by less than the threshold since the start
    heap = 23 * MB;
    h.configApplied();
    vi.advanceTimersByTime(5000);
    expect(calls).toEqual([]);
    heap = 40 * MB;
    // a burst of updates: each restarts the quiet time
    for (let i = 0; i < 5; i++) {
      h.configApplied();
      vi.advanceTimersByTime(600);
    }
    expect(calls).toEqual([]);
    vi.advanceTimersByTime(400);
    expect(calls).toEqual([{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
    expect(h.status()).toMatchObject({ compactions: 1, lastReleasedBytes: 16 * MB });

    // an update that leaves the heap level (EDS churn): no compaction
    vi.advanceTimersByTime(60_000);
    heap = 26 * MB;
    h.configApplied();
    vi.advanceTimersByTime(1000);
    expect(calls).toHaveLength(1);

    // growth soon after a compaction waits for the interval, then compacts
    heap = 30 * MB;
    h.configApplied();
    vi.advanceTimersByTime(1000);
    expect(calls).toHaveLength(2);
    heap = 40 * MB;
    h.configApplied();
    vi.advanceTimersByTime(1000);
    expect(calls).toHaveLength(2);
    vi.advanceTimersByTime(29_000);
    expect(calls).toHaveLength(3);
    h.stop();
  });

  it('is off by flag, and unavailable (never called) without a collector', () => {
    vi.useFakeTimers();
    const gc = vi.fn();
    const off = new HeapCompaction({ quietMs: null, gc, heapSize: () => 100 * MB });
    off.configApplied();
    vi.advanceTimersByTime(10_000);
    expect(off.status().mode).toBe('off');
    const none = new HeapCompaction({ quietMs: 10, heapSize: () => 100 * MB });
    expect(none.status().mode).toBe(typeof (globalThis as { gc?: unknown }).gc === 'function' ? 'on' : 'unavailable');
    if (none.status().mode === 'unavailable') {
      none.configApplied();
      vi.advanceTimersByTime(1000);
      expect(none.status().compactions).toBe(0);
    }
    expect(gc).not.toHaveBeenCalled();
  });

  it("with V8's own collector, returns the fragmented heap an ordinary major collection leaves committed", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (o?: object) => void;
    const h = new HeapCompaction({ quietMs: 20, gc, minGrowthBytes: 0 });
    // what a large config leaves: ~40 MB of objects promoted to old space, of which two in three are
    // kept (the compiled config among the decoded messages): pages two-thirds full, which an ordinary
    // collection leaves in place and only a memory-reducing one compacts
    let all: object[][] | null = [];
    for (let i = 0; i < 200; i++) all.push(Array.from({ length: 2000 }, (_, j) => ({ i, j, s: `x${i}-${j}` })));
    const kept = all.flatMap((a) => a.filter((_, j) => j % 3 !== 0));
    all = null;
    expect(all).toBeNull();
    gc({ type: 'major' });
    const before = process.memoryUsage().heapTotal;
    h.configApplied();
    await new Promise((r) => setTimeout(r, 100));
    expect(h.status().compactions).toBe(1);
    expect(h.status().lastReleasedBytes, String(h.status().lastReleasedBytes)).toBeGreaterThan(10 * MB);
    expect(process.memoryUsage().heapTotal).toBeLessThan(before - 10 * MB);
    expect(h.status().lastPauseMs).toBeGreaterThan(0);
    expect(kept).toHaveLength(266_600);
  });
});
