/**
 * Push debouncing as Istio does it: after a change, wait until `quietMs` pass with no further
 * change, but never longer than `maxMs` after the first change of the batch.
 */

/** Batches change keys and calls `flush` with the union and the time of the first change. */
export class Debouncer {
  private keys = new Set<string>();
  private first = 0;
  private quietTimer?: NodeJS.Timeout;
  private maxTimer?: NodeJS.Timeout;
  private events = 0;

  constructor(
    private readonly quietMs: number,
    private readonly maxMs: number,
    private readonly flush: (keys: Set<string>, firstChangeAt: number, events: number) => void,
  ) {}

  /** Adds a change. */
  add(keys: Iterable<string>): void {
    if (!this.events) {
      this.first = Date.now();
      this.maxTimer = setTimeout(() => this.fire(), this.maxMs);
    }
    this.events += 1;
    for (const k of keys) this.keys.add(k);
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.fire(), this.quietMs);
  }

  /** Drops pending changes and timers. */
  stop(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.events = 0;
    this.keys = new Set();
  }

  private fire(): void {
    if (!this.events) return;
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    const keys = this.keys;
    const first = this.first;
    const events = this.events;
    this.keys = new Set();
    this.events = 0;
    this.flush(keys, first, events);
  }
}
