/**
 * Envoy's JWT authentication filter (`envoy.filters.http.jwt_authn`, `JwtAuthentication`), the
 * form Istio gives RequestAuthentication: providers (issuer, audiences, JWKS inline, from a
 * file or from a URL, token locations, forwarding, claims to headers) and rules that pick a
 * requirement by path. Tokens are verified with `jose`. As in Istio, a request with no token
 * passes under `allow_missing` (authorization then sees no request principal) while a present
 * but invalid token is refused with 401.
 */
import { readFileSync } from 'node:fs';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { jose } from '../lazy-package';
import { reject } from '../config/errors';
import { compileStringMatcher, type StringMatch, type Re2Matcher } from '../config/matchers';
import { fields, rejectUnsupported } from '../config/fields';
import { durationMs } from '@tsmesh/xds';
import type { AuthnResult, AuthzAttributes, HeaderBag } from './attributes';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One compiled provider. */
export interface JwtProviderSpec {
  name: string;
  issuer: string;
  audiences: string[];
  keys: JWTVerifyGetKey;
  forward: boolean;
  fromHeaders: { name: string; prefix: string }[];
  fromParams: string[];
  forwardPayloadHeader: string;
  payloadInMetadata: string;
  claimToHeaders: { header: string; claim: string }[];
  clockSkewSeconds: number;
}

/** A compiled `JwtRequirement`. */
export type Requirement =
  | { kind: 'provider'; name: string; audiences: string[] | null }
  | { kind: 'any'; list: Requirement[] }
  | { kind: 'all'; list: Requirement[] }
  | { kind: 'allow_missing' }
  | { kind: 'allow_missing_or_failed' };

/** A rule: a path match and its requirement (null: no requirement). */
interface Rule {
  kind: 'prefix' | 'path' | 'regex' | 'separated';
  value: string;
  regex: Re2Matcher | null;
  caseSensitive: boolean;
  requires: Requirement | null;
}

const PROVIDER_FIELDS = fields('issuer', 'audiences', 'remote_jwks', 'local_jwks', 'forward', 'from_headers', 'from_params', 'forward_payload_header',
  'payload_in_metadata', 'claim_to_headers', 'clock_skew_seconds', 'jwks_source_specifier', 'jwt_cache_config', 'pad_forward_payload_header', 'require_expiration', 'normalize_payload_in_metadata');

function dataSource(d: Dec, field: string): string {
  switch (d?.specifier) {
    case 'inline_string': return d.inline_string;
    case 'inline_bytes': return Buffer.from(d.inline_bytes).toString('utf8');
    case 'filename':
      try {
        return readFileSync(d.filename, 'utf8');
      } catch (err) {
        return reject(`${field}.filename`, `cannot read "${d.filename}": ${(err as Error).message}`);
      }
    default: return reject(field, `data source "${d?.specifier ?? ''}" is not supported`);
  }
}

function compileProvider(name: string, p: Dec, field: string): JwtProviderSpec {
  rejectUnsupported('envoy.extensions.filters.http.jwt_authn.v3.JwtProvider', p, PROVIDER_FIELDS, field);
  let keys: JWTVerifyGetKey;
  if (p.jwks_source_specifier === 'local_jwks') {
    const text = dataSource(p.local_jwks, `${field}.local_jwks`);
    try {
      keys = jose().createLocalJWKSet(JSON.parse(text));
    } catch (err) {
      return reject(`${field}.local_jwks`, `not a JWKS: ${(err as Error).message}`);
    }
  } else if (p.jwks_source_specifier === 'remote_jwks') {
    const uri = p.remote_jwks?.http_uri?.uri as string;
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return reject(`${field}.remote_jwks.http_uri.uri`, `"${uri}" is not a URL`);
    }
    const timeout = p.remote_jwks.http_uri.timeout ? durationMs(p.remote_jwks.http_uri.timeout) : 5000;
    const cache = p.remote_jwks.cache_duration ? durationMs(p.remote_jwks.cache_duration) : 300_000;
    keys = jose().createRemoteJWKSet(url, { timeoutDuration: timeout, cacheMaxAge: cache, cooldownDuration: Math.min(cache, 30_000) });
  } else {
    return reject(field, 'needs local_jwks or remote_jwks');
  }
  const fromHeaders = ((p.from_headers ?? []) as Dec[]).map((h) => ({ name: (h.name as string).toLowerCase(), prefix: (h.value_prefix as string) ?? '' }));
  const fromParams = (p.from_params ?? []) as string[];
  return {
    name,
    issuer: p.issuer ?? '',
    audiences: p.audiences ?? [],
    keys,
    forward: !!p.forward,
    // Envoy's defaults when no location is given: `Authorization: Bearer <token>` and `?access_token=`.
    fromHeaders: fromHeaders.length || fromParams.length ? fromHeaders : [{ name: 'authorization', prefix: 'Bearer ' }],
    fromParams: fromHeaders.length || fromParams.length ? fromParams : ['access_token'],
    forwardPayloadHeader: ((p.forward_payload_header as string) ?? '').toLowerCase(),
    payloadInMetadata: p.payload_in_metadata ?? '',
    claimToHeaders: ((p.claim_to_headers ?? []) as Dec[]).map((c) => ({ header: (c.header_name as string).toLowerCase(), claim: c.claim_name as string })),
    clockSkewSeconds: p.clock_skew_seconds ?? 60,
  };
}

function compileRequirement(r: Dec | null | undefined, providers: Map<string, JwtProviderSpec>, named: Map<string, Requirement>, field: string): Requirement | null {
  if (!r) return null;
  switch (r.requires_type) {
    case 'provider_name':
      if (!providers.has(r.provider_name)) reject(`${field}.provider_name`, `provider "${r.provider_name}" is not defined`);
      return { kind: 'provider', name: r.provider_name, audiences: null };
    case 'provider_and_audiences':
      if (!providers.has(r.provider_and_audiences.provider_name)) reject(`${field}.provider_and_audiences.provider_name`, `provider "${r.provider_and_audiences.provider_name}" is not defined`);
      return { kind: 'provider', name: r.provider_and_audiences.provider_name, audiences: r.provider_and_audiences.audiences ?? [] };
    case 'requires_any':
    case 'requires_all': {
      const list = ((r[r.requires_type].requirements ?? []) as Dec[]).map((x, i) => compileRequirement(x, providers, named, `${field}.${r.requires_type}.requirements[${i}]`)).filter((x): x is Requirement => x !== null);
      return { kind: r.requires_type === 'requires_any' ? 'any' : 'all', list };
    }
    case 'allow_missing': return { kind: 'allow_missing' };
    case 'allow_missing_or_failed': return { kind: 'allow_missing_or_failed' };
    default: return reject(field, `requirement "${r.requires_type ?? ''}" is not supported`);
  }
}

/** Outcome of authenticating one request. */
export type JwtOutcome =
  | { ok: true; authn: AuthnResult | null; removeHeaders: string[]; setHeaders: [string, string][]; metadata: Record<string, unknown> | null }
  | { ok: false; status: 401 | 403; body: string };

interface Tried {
  status: 'ok' | 'missing' | 'failed';
  reason?: string;
  audience?: boolean;
}

/** A compiled `JwtAuthentication`. */
export class JwtAuthn {
  private constructor(private readonly providers: Map<string, JwtProviderSpec>, private readonly rules: Rule[]) {}

  /** Compiles a decoded `JwtAuthentication`; throws ConfigError naming the field. */
  static compile(cfg: Dec, field = 'typed_config'): JwtAuthn {
    rejectUnsupported('envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', cfg, fields('providers', 'rules', 'requirement_map', 'bypass_cors_preflight'), field);
    const providers = new Map<string, JwtProviderSpec>();
    for (const name of Object.keys(cfg.providers ?? {}).sort()) providers.set(name, compileProvider(name, cfg.providers[name], `${field}.providers["${name}"]`));
    const named = new Map<string, Requirement>();
    for (const [k, v] of Object.entries((cfg.requirement_map ?? {}) as Record<string, Dec>)) {
      const r = compileRequirement(v, providers, named, `${field}.requirement_map["${k}"]`);
      if (r) named.set(k, r);
    }
    const rules = ((cfg.rules ?? []) as Dec[]).map((r, i): Rule => {
      const f = `${field}.rules[${i}]`;
      const m = r.match ?? {};
      if (m.headers?.length || m.query_parameters?.length) reject(`${f}.match`, 'header and query matches are not supported');
      let requires: Requirement | null;
      if (r.requirement_type === 'requirement_name') {
        if (!named.has(r.requirement_name)) reject(`${f}.requirement_name`, `"${r.requirement_name}" is not in requirement_map`);
        requires = named.get(r.requirement_name)!;
      } else {
        requires = compileRequirement(r.requires, providers, named, `${f}.requires`);
      }
      const cs = m.case_sensitive ? m.case_sensitive.value !== false : true;
      switch (m.path_specifier) {
        case 'prefix': return { kind: 'prefix', value: m.prefix, regex: null, caseSensitive: cs, requires };
        case 'path': return { kind: 'path', value: m.path, regex: null, caseSensitive: cs, requires };
        case 'path_separated_prefix': return { kind: 'separated', value: m.path_separated_prefix, regex: null, caseSensitive: cs, requires };
        case 'safe_regex': {
          const sm: StringMatch = compileStringMatcher({ match_pattern: 'safe_regex', safe_regex: m.safe_regex }, `${f}.match.safe_regex`);
          return { kind: 'regex', value: '', regex: sm.regex, caseSensitive: cs, requires };
        }
        default: return reject(`${f}.match`, `path match "${m.path_specifier ?? ''}" is not supported`);
      }
    });
    return new JwtAuthn(providers, rules);
  }

  private requirementFor(path: string): Requirement | null {
    for (const r of this.rules) {
      const p = r.caseSensitive ? path : path.toLowerCase();
      const v = r.caseSensitive ? r.value : r.value.toLowerCase();
      const hit = r.kind === 'prefix' ? p.startsWith(v)
        : r.kind === 'path' ? p === v
          : r.kind === 'separated' ? p === v || p.startsWith(`${v}/`)
            : r.regex!.test(path);
      if (hit) return r.requires;
    }
    return null;
  }

  /** The token for `p` in the request, with the header it came from ('' for a query parameter). */
  private extract(p: JwtProviderSpec, headers: HeaderBag, target: string): { token: string; header: string } | null {
    for (const h of p.fromHeaders) {
      const raw = headers[h.name];
      const v = Array.isArray(raw) ? raw[0] : raw;
      if (!v) continue;
      const t = v.trim();
      if (h.prefix) {
        if (t.toLowerCase().startsWith(h.prefix.toLowerCase())) return { token: t.slice(h.prefix.length).trim(), header: h.name };
        continue;
      }
      return { token: t, header: h.name };
    }
    if (p.fromParams.length) {
      const q = target.indexOf('?');
      if (q >= 0) {
        const params = new URLSearchParams(target.slice(q + 1));
        for (const name of p.fromParams) {
          const v = params.get(name);
          if (v) return { token: v, header: '' };
        }
      }
    }
    return null;
  }

  /**
   * Authenticates a request: picks the rule by canonical path, checks its requirement, and on
   * success says which headers to remove (tokens not forwarded) and set (claims, payload), and
   * what authorization should know (`istio_authn`).
   */
  async authenticate(a: AuthzAttributes): Promise<JwtOutcome> {
    const path = a.path();
    if (path === null) return { ok: false, status: 401, body: 'Jwt verification fails' };
    const req = this.requirementFor(path);
    if (!req) return { ok: true, authn: null, removeHeaders: [], setHeaders: [], metadata: null };
    const headers = a.headers ?? {};
    const verified = new Map<string, JWTPayload>();
    const tried = new Map<string, Tried>();
    let anyToken = false;
    for (const p of this.providers.values()) if (this.extract(p, headers, a.target)) anyToken = true;
    const check = async (r: Requirement): Promise<Tried> => {
      switch (r.kind) {
        case 'allow_missing_or_failed': return { status: 'ok' };
        case 'allow_missing': return anyToken ? { status: 'failed', reason: 'Jwt verification fails' } : { status: 'ok' };
        case 'any': {
          let last: Tried = { status: 'missing' };
          const results: Tried[] = [];
          for (const x of r.list) {
            const t = await check(x);
            if (t.status === 'ok') return t;
            results.push(t);
            last = t;
          }
          return results.find((t) => t.status === 'failed') ?? last;
        }
        case 'all': {
          for (const x of r.list) {
            const t = await check(x);
            if (t.status !== 'ok') return t;
          }
          return { status: 'ok' };
        }
        case 'provider': {
          const p = this.providers.get(r.name)!;
          const prev = tried.get(p.name);
          if (prev && !r.audiences) return prev;
          const tok = this.extract(p, headers, a.target);
          if (!tok) return { status: 'missing', reason: 'Jwt is missing' };
          const auds = r.audiences && r.audiences.length ? r.audiences : p.audiences;
          let result: Tried;
          try {
            const { payload } = await jose().jwtVerify(tok.token, p.keys, { ...(p.issuer ? { issuer: p.issuer } : {}), ...(auds.length ? { audience: auds } : {}), clockTolerance: p.clockSkewSeconds });
            verified.set(p.name, payload);
            result = { status: 'ok' };
          } catch (err) {
            const joseErrors = jose().errors;
            const aud = err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud';
            result = { status: 'failed', reason: aud ? 'Audiences in Jwt are not allowed' : err instanceof joseErrors.JWTExpired ? 'Jwt is expired' : 'Jwt verification fails', audience: aud };
          }
          if (!r.audiences) tried.set(p.name, result);
          return result;
        }
      }
    };
    const t = await check(req);
    if (t.status !== 'ok') return { ok: false, status: t.audience ? 403 : 401, body: t.reason ?? 'Jwt is missing' };
    const removeHeaders: string[] = [];
    const setHeaders: [string, string][] = [];
    let metadata: Record<string, unknown> | null = null;
    let authn: AuthnResult | null = null;
    for (const [name, payload] of verified) {
      const p = this.providers.get(name)!;
      const tok = this.extract(p, headers, a.target);
      if (!p.forward && tok?.header) removeHeaders.push(tok.header);
      if (p.forwardPayloadHeader) setHeaders.push([p.forwardPayloadHeader, Buffer.from(JSON.stringify(payload)).toString('base64url')]);
      for (const c of p.claimToHeaders) {
        const v = payload[c.claim];
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') setHeaders.push([c.header, String(v)]);
      }
      if (p.payloadInMetadata) (metadata ??= {})[p.payloadInMetadata] = payload;
      authn ??= authnOf(payload);
    }
    return { ok: true, authn, removeHeaders, setHeaders, metadata };
  }
}

/** Istio's view of a verified token: principal `<iss>/<sub>` and claims as lists of strings. */
export function authnOf(payload: JWTPayload): AuthnResult {
  const claims: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(payload)) {
    if (typeof v === 'string') claims[k] = [v];
    else if (typeof v === 'number' || typeof v === 'boolean') claims[k] = [String(v)];
    else if (Array.isArray(v)) claims[k] = v.filter((x) => typeof x === 'string' || typeof x === 'number').map(String);
  }
  const aud = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  return {
    principal: `${payload.iss ?? ''}/${payload.sub ?? ''}`,
    claims,
    audiences: aud,
    presenter: typeof payload.azp === 'string' ? payload.azp : '',
    payload: payload as Record<string, unknown>,
  };
}
