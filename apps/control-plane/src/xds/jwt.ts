/**
 * RequestAuthentication → Envoy's JWT filter (`envoy.filters.http.jwt_authn`, `JwtAuthentication`)
 * in Istio's form: one provider `origins-<n>` per JWT rule (issuer, audiences, JWKS inline or from
 * `jwksUri`, token locations, forwarding, payload and claims to headers, payload in metadata under
 * the issuer), and one rule for every path requiring any provider or no token (`allow_missing`): a
 * request with no token passes (AuthorizationPolicy decides), a request with a bad token is refused.
 */
import { ExtensionTypeUrl, formatClusterName, pack, type HttpFilter } from '@tsmesh/xds';
import { parseDurationMs, resolveHost, type RequestAuthenticationSpec } from '@tsmesh/mesh-config';
import type { Config, PushContext } from '../model/push-context';

function jwksCluster(push: PushContext, uri: string): string {
  try {
    const u = new URL(uri);
    const host = resolveHost(u.hostname, 'default', push.options.domain);
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    if (push.registry.byHost.has(host)) return formatClusterName({ direction: 'outbound', port, subset: '', host });
    return `jwks|${u.host}`;
  } catch {
    return 'jwks';
  }
}

/** The JWT filter for the RequestAuthentications that apply to a workload, or undefined when none do. */
export function jwtFilter(push: PushContext, policies: readonly Config<RequestAuthenticationSpec>[]): HttpFilter | undefined {
  const rules = policies.flatMap((p) => p.spec.jwtRules ?? []);
  if (!rules.length) return undefined;
  const providers: Record<string, object> = {};
  rules.forEach((r, i) => {
    const p: Record<string, unknown> = { issuer: r.issuer, payload_in_metadata: r.issuer };
    if (r.audiences?.length) p.audiences = r.audiences;
    if (r.jwks) p.local_jwks = { inline_string: r.jwks };
    else if (r.jwksUri ?? r.jwks_uri) {
      // `jwks_uri` is the older spelling Istio's API still accepts.
      const uri = (r.jwksUri ?? r.jwks_uri)!;
      const timeoutMs = r.timeout ? parseDurationMs(r.timeout) : 5000;
      p.remote_jwks = {
        http_uri: { uri, cluster: jwksCluster(push, uri), timeout: { seconds: Math.floor(timeoutMs / 1000), nanos: (timeoutMs % 1000) * 1e6 } },
        cache_duration: { seconds: 300 },
      };
    }
    if (r.fromHeaders?.length) p.from_headers = r.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix ? { value_prefix: h.prefix } : {}) }));
    if (r.fromParams?.length) p.from_params = r.fromParams;
    if (r.fromCookies?.length) p.from_cookies = r.fromCookies;
    if (r.forwardOriginalToken) p.forward = true;
    if (r.outputPayloadToHeader) p.forward_payload_header = r.outputPayloadToHeader;
    if (r.outputClaimToHeaders?.length) p.claim_to_headers = r.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim }));
    providers[`origins-${i}`] = p;
  });
  const requirements = [...Object.keys(providers).map((provider_name) => ({ provider_name })), { allow_missing: {} }];
  return {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: pack(ExtensionTypeUrl.JwtAuthentication, {
      providers,
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements } } }],
    }),
  };
}
