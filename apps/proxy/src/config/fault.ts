/** Envoy's HTTP fault filter config (`extensions.filters.http.fault.v3.HTTPFault`), compiled. */
import { durationMs, type HTTPFault__Output } from '@tsmesh/xds';
import { compileHeaderMatcher, type HeaderMatch } from './matchers';
import { fields, rejectUnsupported } from './fields';
import { reject } from './errors';

/** A fraction from a `FractionalPercent` (numerator / denominator) as a probability in [0, 1]. */
export function fraction(p: { numerator?: number; denominator?: string } | null | undefined): number {
  if (!p) return 1;
  const d = p.denominator === 'TEN_THOUSAND' ? 10_000 : p.denominator === 'MILLION' ? 1_000_000 : 100;
  return Math.min(1, (p.numerator ?? 0) / d);
}

/** Compiled fault injection. */
export class FaultConfig {
  constructor(
    readonly delayMs: number,
    readonly delayFraction: number,
    readonly abortStatus: number,
    readonly abortGrpcStatus: number,
    readonly abortFraction: number,
    readonly headers: readonly HeaderMatch[],
    readonly maxActive: number,
  ) {}
}

const HTTP_FAULT = fields('delay', 'abort', 'headers', 'max_active_faults');

/** Compiles an `HTTPFault`. */
export function compileFault(f: HTTPFault__Output, field: string): FaultConfig {
  rejectUnsupported('envoy.extensions.filters.http.fault.v3.HTTPFault', f as never, HTTP_FAULT, field);
  let delayMs = 0;
  let delayFraction = 0;
  if (f.delay) {
    if (f.delay.fault_delay_secifier !== 'fixed_delay') reject(`${field}.delay`, 'only fixed_delay is supported');
    delayMs = durationMs(f.delay.fixed_delay);
    delayFraction = fraction(f.delay.percentage);
  }
  let abortStatus = 0;
  let abortGrpc = -1;
  let abortFraction = 0;
  if (f.abort) {
    if (f.abort.error_type === 'http_status') {
      abortStatus = f.abort.http_status ?? 0;
      if (abortStatus < 200 || abortStatus >= 600) reject(`${field}.abort.http_status`, `${abortStatus} is not in [200, 600)`);
    } else if (f.abort.error_type === 'grpc_status') {
      abortGrpc = f.abort.grpc_status ?? 0;
      abortStatus = 200;
    } else {
      reject(`${field}.abort`, `error_type "${f.abort.error_type}" is not supported`);
    }
    abortFraction = fraction(f.abort.percentage);
  }
  const headers = (f.headers ?? []).map((h, i) => compileHeaderMatcher(h as never, `${field}.headers[${i}]`));
  const maxActive = f.max_active_faults ? f.max_active_faults.value : Infinity;
  return new FaultConfig(delayMs, delayFraction, abortStatus, abortGrpc, abortFraction, headers, maxActive);
}
