import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Debouncer } from './debounce';

describe('Debouncer (100 ms quiet, 10 s max)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('waits for a quiet period and merges the changes of a burst', () => {
    const flushes: string[][] = [];
    const d = new Debouncer(100, 10_000, (keys) => flushes.push([...keys].sort()));
    d.add(['a']);
    vi.advanceTimersByTime(60);
    d.add(['b']);
    vi.advanceTimersByTime(60);
    expect(flushes).toEqual([]);
    vi.advanceTimersByTime(40);
    expect(flushes).toEqual([['a', 'b']]);
  });

  it('pushes after the max delay even when changes never stop', () => {
    const flushes: number[] = [];
    const d = new Debouncer(100, 1000, (_k, _first, events) => flushes.push(events));
    for (let t = 0; t < 1500; t += 50) {
      d.add([`k${t}`]);
      vi.advanceTimersByTime(50);
    }
    expect(flushes[0]).toBe(20);
    d.stop();
  });
});
