/**
 * HTTPRoute rule features beyond matches and backends, as Istio route fields: the `CORS` filter
 * (→ `corsPolicy`), `retry` and `timeouts.backendRequest` (→ `retries`), and the path replacement
 * of `ReplacePrefixMatch` in `URLRewrite` and `RequestRedirect` for each Envoy match a
 * PathPrefix becomes.
 */
import type { CorsPolicy, HTTPRetry, HTTPRoute as IstioHTTPRoute, HTTPRouteFilterApi, HTTPRouteRuleApi, StringMatch } from '@tsmesh/mesh-config';

/** Istio's marker in `redirect.uri` for "replace the matched prefix" (RequestRedirect ReplacePrefixMatch). */
export const PREFIX_REDIRECT = '%PREFIX()%';

/** The retry conditions a Gateway API `retry` always has (no answer at all, or a per-try timeout); `codes` add status codes. */
const RETRY_ON = 'connect-failure,refused-stream,reset';

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A CORS origin (`https://*.example.com`, `*`) as an Istio string match. */
function originMatch(o: string): StringMatch {
  if (o === '*') return { regex: '.*' };
  if (!o.includes('*')) return { exact: o };
  return { regex: o.split('*').map(escapeRegex).join('[^/]*') };
}

/**
 * The `CORS` filter (HTTPCORSFilter) as an Istio `corsPolicy`: origins (wildcards allowed), methods,
 * headers, exposed headers, `maxAge` in seconds (default 5, as Gateway API sets it) and
 * `allowCredentials`; preflights from other origins are answered without CORS headers, not forwarded.
 */
export function corsPolicyOf(f: NonNullable<HTTPRouteFilterApi['cors']>): CorsPolicy {
  return {
    allowOrigins: (f.allowOrigins ?? []).map(originMatch),
    ...(f.allowMethods?.length ? { allowMethods: f.allowMethods } : {}),
    ...(f.allowHeaders?.length ? { allowHeaders: f.allowHeaders } : {}),
    ...(f.exposeHeaders?.length ? { exposeHeaders: f.exposeHeaders } : {}),
    maxAge: `${f.maxAge ?? 5}s`,
    ...(f.allowCredentials ? { allowCredentials: true } : {}),
    unmatchedPreflights: 'IGNORE',
  };
}

const isZero = (d: string | undefined) => d !== undefined && /^0+(\.0+)?(h|m|s|ms)?$/.test(d);

/**
 * `retry` and `timeouts.backendRequest` as Istio `retries` (and `timeout`): `attempts` (default 2,
 * Istio's), `codes` as retriable status codes, `backoff` as the minimum wait between tries, and
 * `backendRequest` as the per-try timeout (a timed-out try is retried). With `attempts: 0` there
 * is one try, so a `backendRequest` shorter than the request timeout bounds the request instead.
 * `0s` disables a timeout.
 */
export function retriesOf(rule: HTTPRouteRuleApi, into: IstioHTTPRoute): void {
  const retry = (rule as { retry?: { attempts?: number; codes?: number[]; backoff?: string } }).retry;
  const request = rule.timeouts?.request;
  const backend = rule.timeouts?.backendRequest;
  if (request) into.timeout = isZero(request) ? '0s' : request;
  if (!retry && !backend) return;
  const attempts = retry?.attempts ?? 2;
  if (attempts === 0) {
    into.retries = { attempts: 0 };
    if (backend && !isZero(backend) && (!request || isZero(request) || msOf(backend) < msOf(request))) into.timeout = backend;
    return;
  }
  const r: HTTPRetry = { attempts, retryOn: [RETRY_ON, ...(retry?.codes ?? []).map(String)].join(',') };
  if (backend && !isZero(backend)) r.perTryTimeout = backend;
  if (retry?.backoff) r.backoff = retry.backoff;
  into.retries = r;
}

function msOf(d: string): number {
  let ms = 0;
  for (const [, n, u] of d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(n) * (u === 'h' ? 3_600_000 : u === 'm' ? 60_000 : u === 's' ? 1000 : 1);
  return ms;
}

/**
 * The replacement of a `ReplacePrefixMatch` for one Envoy match of a PathPrefix: the exact path
 * itself becomes the replacement (`/` when empty); the prefix below it (`/api/`) or the root `/`
 * keeps the separator (`/api/x` with `/v2` → `/v2/x`, with `` → `/x`).
 */
export function prefixReplacement(repl: string, exactHalf: boolean): string {
  if (exactHalf) return repl || '/';
  return repl.endsWith('/') ? repl : `${repl}/`;
}
