/**
 * A job that re-runs when triggered, at most one run at a time: triggers while it runs collapse
 * into one more run. Components that recompute a whole view (EndpointSlices, VIP rules, hosts
 * files) from the store use it, so a burst of watch events costs one or two passes.
 */
export class Coalesced {
  private loop: Promise<void> | undefined;
  private dirty = false;

  constructor(private readonly run: () => Promise<void>, private readonly onError: (err: Error) => void) {}

  /** Asks for a run; resolves once a run that started after this call has finished. */
  trigger(): Promise<void> {
    this.dirty = true;
    this.loop ??= (async () => {
      // Never inside the caller's stack (a watch handler in the middle of a store write).
      await Promise.resolve();
      while (this.dirty) {
        this.dirty = false;
        try {
          await this.run();
        } catch (err) {
          this.onError(err as Error);
        }
      }
      this.loop = undefined;
    })();
    return this.loop;
  }

  /** Resolves once no run is pending. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }
}
