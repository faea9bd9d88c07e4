/**
 * Per-route policies of a VirtualService HTTP route as Envoy route fields: `retries` (Envoy
 * `RetryPolicy`) and `corsPolicy` (Envoy's `envoy.extensions.filters.http.cors.v3.CorsPolicy`,
 * the per-route config of the `envoy.filters.http.cors` filter), as Istio translates them.
 */
import type { CorsPolicy, HTTPRetry } from '@tsmesh/mesh-config';
import { durationOf } from './common';
import { stringMatcher } from './routes';

export { PREFIX_REDIRECT } from '../model/gateway-api-filters';

/**
 * `retries` → `RetryPolicy`: `attempts` → `num_retries`, `perTryTimeout` → `per_try_timeout`,
 * `backoff` → `retry_back_off.base_interval`, and `retryOn` → `retry_on`, where an HTTP status
 * code among the conditions (`"503,reset"`) goes to `retriable_status_codes` (with
 * `retriable-status-codes`), as Istio reads it.
 */
export function retryPolicy(r: HTTPRetry, defaultRetryOn: string): Record<string, unknown> {
  const on: string[] = [];
  const codes: number[] = [];
  for (const raw of (r.retryOn ?? defaultRetryOn).split(',')) {
    const c = raw.trim();
    if (!c) continue;
    if (/^\d{3}$/.test(c)) codes.push(Number(c));
    else if (!on.includes(c)) on.push(c);
  }
  if (codes.length && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
  return {
    retry_on: on.join(','),
    num_retries: { value: r.attempts ?? 0 },
    ...(r.perTryTimeout ? { per_try_timeout: durationOf(r.perTryTimeout) } : {}),
    ...(r.backoff ? { retry_back_off: { base_interval: durationOf(r.backoff) } } : {}),
    ...(codes.length ? { retriable_status_codes: codes } : r.retryOn === undefined && defaultRetryOn.includes('retriable-status-codes') ? { retriable_status_codes: [503] } : {}),
  };
}

/** `corsPolicy` → Envoy `CorsPolicy` (filter enabled for every request, as Istio sets it). */
export function corsPolicy(c: CorsPolicy): Record<string, unknown> {
  const origins = [...(c.allowOrigins ?? []).map((m) => stringMatcher(m)), ...(c.allowOrigin ?? []).map((o) => (o === '*' ? { safe_regex: { regex: '.*' } } : { exact: o }))];
  return {
    allow_origin_string_match: origins,
    ...(c.allowMethods?.length ? { allow_methods: c.allowMethods.join(',') } : {}),
    ...(c.allowHeaders?.length ? { allow_headers: c.allowHeaders.join(',') } : {}),
    ...(c.exposeHeaders?.length ? { expose_headers: c.exposeHeaders.join(',') } : {}),
    ...(c.maxAge ? { max_age: String(durationOf(c.maxAge)?.seconds ?? 0) } : {}),
    ...(c.allowCredentials !== undefined ? { allow_credentials: { value: c.allowCredentials } } : {}),
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
    ...(c.unmatchedPreflights === 'IGNORE' ? { forward_not_matching_preflights: { value: false } } : {}),
  };
}
