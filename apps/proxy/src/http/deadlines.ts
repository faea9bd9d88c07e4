/**
 * Coarse deadlines for requests (route timeout, per-try timeout, retry backoff) without a timer
 * per request: an object with a deadline joins one list, and a single process-wide timer,
 * running only while the list is not empty, checks it every {@link RESOLUTION_MS}. Envoy's
 * timers are not finer than that in practice; a request is late by at most one tick.
 */

/** What can hold a deadline. */
export interface Timed {
  /** The earliest time (performance.now() ms) something is due; 0: none. */
  dueAt: number;
  /** Set while in the list. */
  timed: boolean;
  /** Called when `dueAt` has passed; sets a new `dueAt` (or 0). */
  onDue(now: number): void;
}

export const RESOLUTION_MS = 5;

const list: Timed[] = [];
let timer: NodeJS.Timeout | null = null;

function tick(): void {
  const now = performance.now();
  let w = 0;
  // entries may be added while due ones run: they are after `n` and seen next tick
  const n = list.length;
  for (let r = 0; r < n; r++) {
    const t = list[r];
    if (t.dueAt !== 0 && t.dueAt <= now) t.onDue(now);
    if (t.dueAt === 0) t.timed = false;
    else list[w++] = t;
  }
  for (let r = n; r < list.length; r++) list[w++] = list[r];
  list.length = w;
  if (w === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
  }
}

/** Makes sure `t` is checked (set `t.dueAt` first); cheap to call again. */
export function track(t: Timed): void {
  if (t.timed) return;
  t.timed = true;
  list.push(t);
  if (timer === null) {
    timer = setInterval(tick, RESOLUTION_MS);
    timer.unref();
  }
}

/** Entries being watched (for tests and stats). */
export function trackedCount(): number {
  return list.length;
}
