/**
 * Envoy's CORS filter (`envoy.filters.http.cors`, `envoy.extensions.filters.http.cors.v3.Cors`) with
 * its per-route policy (`CorsPolicy` in the route's `typed_per_filter_config`):
 *
 * - a request without `Origin`, or on a route without a policy, passes untouched;
 * - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed origin
 *   is answered here, 200 with `access-control-allow-origin` (the origin), `-allow-methods`,
 *   `-allow-headers`, `-max-age`, `-allow-credentials` and `-allow-private-network` as configured;
 *   from another origin it is forwarded upstream (`forward_not_matching_preflights`, default true)
 *   or answered 200 without CORS headers;
 * - any other request from an allowed origin gets `access-control-allow-origin`,
 *   `-allow-credentials` and `-expose-headers` on its response.
 *
 * A `*` in allow_methods / allow_headers with credentials allowed is answered with the request's
 * `Access-Control-Request-Method` / `-Headers` (a credentialed response may not carry `*`).
 * `filter_enabled` below 100 % and `shadow_enabled` are refused (NACK): the proxy has no runtime.
 */
import { reject } from '../config/errors';
import { fields, rejectUnsupported } from '../config/fields';
import { Append, HeaderAdd, HeaderMutation } from '../config/headers';
import { compileStringMatcher, type StringMatch } from '../config/matchers';
import type { Exchange } from '../http/exchange';
import type { HttpHandler, Layer } from '../http/filters';
import { localReply } from '../http/local-reply';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const POLICY_FIELDS = fields('allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials',
  'filter_enabled', 'shadow_enabled', 'allow_private_network_access', 'forward_not_matching_preflights');

/** True when a RuntimeFractionalPercent is absent or 100 %. */
function full(p: Dec | null | undefined): boolean {
  if (!p) return true;
  const d = p.default_value;
  if (!d) return false;
  const den = d.denominator === 'TEN_THOUSAND' || d.denominator === 1 ? 10_000 : d.denominator === 'MILLION' || d.denominator === 2 ? 1_000_000 : 100;
  return (d.numerator ?? 0) >= den;
}

/** A compiled `CorsPolicy`. */
export class CorsPolicyConfig {
  constructor(
    readonly origins: readonly StringMatch[],
    readonly allowMethods: string,
    readonly allowHeaders: string,
    readonly exposeHeaders: string,
    readonly maxAge: string,
    readonly allowCredentials: boolean,
    readonly allowPrivateNetwork: boolean,
    readonly forwardNotMatching: boolean,
    /** Response headers of an actual (non-preflight) request, less the origin. */
    readonly simpleHeaders: readonly HeaderAdd[],
  ) {}

  /** Compiles a decoded `CorsPolicy`; throws ConfigError naming the field. */
  static compile(cfg: Dec, field: string): CorsPolicyConfig {
    rejectUnsupported('envoy.extensions.filters.http.cors.v3.CorsPolicy', cfg, POLICY_FIELDS, field);
    if (cfg.filter_enabled && !full(cfg.filter_enabled)) reject(`${field}.filter_enabled`, 'only 100% is supported (no runtime)');
    if (cfg.shadow_enabled) reject(`${field}.shadow_enabled`, 'is not supported');
    const origins = ((cfg.allow_origin_string_match ?? []) as Dec[]).map((m, i) => compileStringMatcher(m, `${field}.allow_origin_string_match[${i}]`));
    const credentials = !!cfg.allow_credentials?.value;
    const simple: HeaderAdd[] = [];
    if (credentials) simple.push(new HeaderAdd('access-control-allow-credentials', [], 'true', Append.OverwriteOrAdd, false));
    if (cfg.expose_headers) simple.push(new HeaderAdd('access-control-expose-headers', [], String(cfg.expose_headers), Append.OverwriteOrAdd, false));
    const fwd = cfg.forward_not_matching_preflights;
    return new CorsPolicyConfig(origins, String(cfg.allow_methods ?? ''), String(cfg.allow_headers ?? ''), String(cfg.expose_headers ?? ''),
      String(cfg.max_age ?? ''), credentials, !!cfg.allow_private_network_access?.value, fwd ? !!fwd.value : true, simple);
  }

  /** Whether `origin` is allowed. */
  allows(origin: string): boolean {
    for (let i = 0; i < this.origins.length; i++) if (this.origins[i].test(origin)) return true;
    return false;
  }
}

const single = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

class CorsFilter implements HttpHandler {
  constructor(private readonly next: HttpHandler, private readonly name: string) {}

  handle(ex: Exchange): void {
    const p = ex.route?.perFilter.get(this.name) as CorsPolicyConfig | null | undefined;
    const origin = p ? single(ex.headers.origin) : undefined;
    if (!p || !origin) {
      this.next.handle(ex);
      return;
    }
    const allowed = p.allows(origin);
    const requestMethod = single(ex.headers['access-control-request-method']);
    if (ex.method === 'OPTIONS' && requestMethod) {
      if (!allowed) {
        if (p.forwardNotMatching) this.next.handle(ex);
        else localReply(ex, 200, '', null);
        return;
      }
      localReply(ex, 200, '', preflightHeaders(p, origin, requestMethod, single(ex.headers['access-control-request-headers']), single(ex.headers['access-control-request-private-network'])));
      return;
    }
    if (allowed) ex.addResponseMutations([new HeaderMutation([new HeaderAdd('access-control-allow-origin', [], origin, Append.OverwriteOrAdd, false), ...p.simpleHeaders], [])]);
    this.next.handle(ex);
  }
}

function preflightHeaders(p: CorsPolicyConfig, origin: string, method: string, requestHeaders: string | undefined, privateNetwork: string | undefined): Record<string, string> {
  const h: Record<string, string> = { 'access-control-allow-origin': origin };
  if (p.allowCredentials) h['access-control-allow-credentials'] = 'true';
  const methods = p.allowMethods === '*' && p.allowCredentials ? method : p.allowMethods;
  if (methods) h['access-control-allow-methods'] = methods;
  const headers = p.allowHeaders === '*' && p.allowCredentials ? requestHeaders ?? '' : p.allowHeaders;
  if (headers) h['access-control-allow-headers'] = headers;
  if (p.maxAge) h['access-control-max-age'] = p.maxAge;
  if (p.allowPrivateNetwork && privateNetwork === 'true') h['access-control-allow-private-network'] = 'true';
  return h;
}

/** The filter as a layer of the connection manager's stack; `name` is the filter's name in the chain (its per-route key). */
export function corsLayer(name: string): Layer {
  return (next) => new CorsFilter(next, name);
}
