/** Envoy's `RetryPolicy` (route or virtual host), compiled into flags and numbers. */
import { durationMs } from '@tsmesh/xds';
import { reject } from './errors';
import { fields, rejectUnsupported } from './fields';

/** `retry_on` conditions as bit flags. */
export const RetryOn = {
  FiveXX: 1,
  GatewayError: 2,
  Reset: 4,
  ConnectFailure: 8,
  Retriable4xx: 16,
  RefusedStream: 32,
  RetriableStatusCodes: 64,
  GrpcCancelled: 128,
  GrpcDeadlineExceeded: 256,
  GrpcInternal: 512,
  GrpcResourceExhausted: 1024,
  GrpcUnavailable: 2048,
  EnvoyRateLimited: 4096,
} as const;

const NAMES: Record<string, number> = {
  '5xx': RetryOn.FiveXX,
  'gateway-error': RetryOn.GatewayError,
  reset: RetryOn.Reset,
  'connect-failure': RetryOn.ConnectFailure,
  'retriable-4xx': RetryOn.Retriable4xx,
  'refused-stream': RetryOn.RefusedStream,
  'retriable-status-codes': RetryOn.RetriableStatusCodes,
  cancelled: RetryOn.GrpcCancelled,
  'deadline-exceeded': RetryOn.GrpcDeadlineExceeded,
  internal: RetryOn.GrpcInternal,
  'resource-exhausted': RetryOn.GrpcResourceExhausted,
  unavailable: RetryOn.GrpcUnavailable,
  'envoy-ratelimited': RetryOn.EnvoyRateLimited,
};

/** A compiled retry policy. */
export class RetryConfig {
  constructor(
    readonly on: number,
    readonly numRetries: number,
    /** 0: no per-try timeout. */
    readonly perTryTimeoutMs: number,
    readonly baseIntervalMs: number,
    readonly maxIntervalMs: number,
    readonly statusCodes: ReadonlySet<number>,
    /** `envoy.retry_host_predicates.previous_hosts`: avoid hosts already tried. */
    readonly previousHosts: boolean,
    readonly hostSelectionMaxAttempts: number,
  ) {}

  /** Whether a response status (and gRPC status, or -1) is retriable under this policy. */
  retriableStatus(status: number, grpcStatus: number): boolean {
    const on = this.on;
    if (status >= 500 && on & RetryOn.FiveXX) return true;
    if ((status === 502 || status === 503 || status === 504) && on & RetryOn.GatewayError) return true;
    if (status === 409 && on & RetryOn.Retriable4xx) return true;
    if (on & RetryOn.RetriableStatusCodes && this.statusCodes.has(status)) return true;
    if (grpcStatus >= 0) {
      if (grpcStatus === 1 && on & RetryOn.GrpcCancelled) return true;
      if (grpcStatus === 4 && on & RetryOn.GrpcDeadlineExceeded) return true;
      if (grpcStatus === 13 && on & RetryOn.GrpcInternal) return true;
      if (grpcStatus === 8 && on & RetryOn.GrpcResourceExhausted) return true;
      if (grpcStatus === 14 && on & RetryOn.GrpcUnavailable) return true;
    }
    return false;
  }

  /** Whether a failure with no response is retriable: connect failure, reset, or per-try timeout. */
  retriableFailure(kind: 'connect' | 'reset' | 'timeout' | 'refused'): boolean {
    const on = this.on;
    if (on & (RetryOn.FiveXX | RetryOn.Reset)) return true;
    if (kind === 'connect') return (on & (RetryOn.ConnectFailure | RetryOn.GatewayError)) !== 0;
    if (kind === 'timeout') return (on & RetryOn.GatewayError) !== 0;
    if (kind === 'refused') return (on & RetryOn.RefusedStream) !== 0;
    return false;
  }

  /** Fully jittered exponential backoff before retry number `n` (1-based). */
  backoffMs(n: number): number {
    const cap = Math.min(this.maxIntervalMs, this.baseIntervalMs * (2 ** n - 1));
    return Math.random() * cap;
  }
}

const RETRY_FIELDS = fields('retry_on', 'num_retries', 'per_try_timeout', 'retry_back_off', 'retriable_status_codes', 'retry_host_predicate', 'host_selection_retry_max_attempts');

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Compiles a decoded `RetryPolicy`. */
export function compileRetry(p: Dec, field: string): RetryConfig {
  rejectUnsupported('envoy.config.route.v3.RetryPolicy', p, RETRY_FIELDS, field);
  let on = 0;
  for (const raw of String(p.retry_on ?? '').split(',')) {
    const name = raw.trim();
    if (!name) continue;
    const bit = NAMES[name];
    if (bit === undefined) reject(`${field}.retry_on`, `condition "${name}" is not supported`);
    on |= bit;
  }
  const numRetries = p.num_retries ? p.num_retries.value : 1;
  const base = p.retry_back_off?.base_interval ? durationMs(p.retry_back_off.base_interval) : 25;
  if (p.retry_back_off && base <= 0) reject(`${field}.retry_back_off.base_interval`, 'must be > 0');
  const max = p.retry_back_off?.max_interval ? durationMs(p.retry_back_off.max_interval) : base * 10;
  let previousHosts = false;
  for (const [i, pred] of (p.retry_host_predicate as Dec[] ?? []).entries()) {
    if (pred.name === 'envoy.retry_host_predicates.previous_hosts') previousHosts = true;
    else reject(`${field}.retry_host_predicate[${i}].name`, `"${pred.name}" is not supported`);
  }
  return new RetryConfig(on, numRetries, durationMs(p.per_try_timeout), base, Math.max(base, max), new Set<number>(p.retriable_status_codes ?? []),
    previousHosts, Number(p.host_selection_retry_max_attempts ?? 1) || 1);
}
