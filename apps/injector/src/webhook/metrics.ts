/**
 * The injector's Prometheus metrics by Istio's names: every Pod admission review it is asked
 * about (`sidecar_injection_requests_total`), and its outcome — injected
 * (`sidecar_injection_success_total`), left alone by policy (`sidecar_injection_skip_total`) or
 * refused (`sidecar_injection_failure_total`, by `type`: `decode` for a malformed review, `inject`
 * for a pod that cannot be injected) — plus process metrics. Served at `GET /metrics` on the
 * webhook's port.
 */
import { Registry, registerProcessMetrics, type Counter } from '@tsmesh/telemetry/metrics';

/** What one review came to. */
export type InjectionOutcome = 'success' | 'skip' | 'failure';

/** The injector's metric set. */
export class InjectorMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly success: Counter;
  private readonly skip: Counter;
  private readonly failure: Counter;

  constructor() {
    const r = this.registry;
    this.requests = r.counter({ name: 'sidecar_injection_requests_total', help: 'Total number of sidecar injection requests.' });
    this.success = r.counter({ name: 'sidecar_injection_success_total', help: 'Total number of successful sidecar injection requests.' });
    this.skip = r.counter({ name: 'sidecar_injection_skip_total', help: 'Total number of skipped sidecar injection requests.' });
    this.failure = r.counter({ name: 'sidecar_injection_failure_total', help: 'Total number of failed sidecar injection requests.', labelNames: ['type'] });
    // Every series exists from the start, so rate() over them works before the first pod.
    this.requests.inc(0);
    this.success.inc(0);
    this.skip.inc(0);
    this.failure.labels('decode').inc(0);
    this.failure.labels('inject').inc(0);
    registerProcessMetrics(r);
  }

  /** Records one review's outcome (`failureType` for a failure: `decode` or `inject`). */
  record(outcome: InjectionOutcome, failureType: 'decode' | 'inject' = 'inject'): void {
    this.requests.inc();
    if (outcome === 'success') this.success.inc();
    else if (outcome === 'skip') this.skip.inc();
    else this.failure.labels(failureType).inc();
  }

  /** Prometheus text exposition. */
  expose(): string {
    return this.registry.expose();
  }
}
