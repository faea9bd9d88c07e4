/**
 * Envoy's RBAC filters (`envoy.filters.http.rbac`, `envoy.filters.network.rbac`) over the
 * `envoy.config.rbac.v3.RBAC` rules the control plane makes from AuthorizationPolicies: one
 * policy per rule, a policy matching when one of its permissions and one of its principals
 * match; ALLOW lets a request through only when a policy matches (so an empty ALLOW policy set
 * denies everything), DENY refuses it when one matches. Matchers are compiled once per config;
 * evaluating is a walk over small objects with no allocation.
 *
 * Safe matching (Istio's security bulletins): paths are canonicalised (see ./path), `:authority`
 * is compared case-insensitively and with and without its port, header values are trimmed and
 * a header with several values is matched value by value, in the direction that fails closed
 * (see {@link Lean}).
 */
import { cidrContains, ipToBigint, type Cidr } from '../config/listener';
import { compileHeaderMatcher, compileStringMatcher, HeaderKind, type HeaderMatch, type StringMatch } from '../config/matchers';
import { reject } from '../config/errors';
import { trimOws, type AuthzAttributes } from './attributes';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A compiled permission or principal. */
export interface Matcher {
  match(a: AuthzAttributes): boolean;
}

class Any implements Matcher {
  match(): boolean {
    return true;
  }
}
const ANY = new Any();

class And implements Matcher {
  constructor(private readonly all: Matcher[]) {}
  match(a: AuthzAttributes): boolean {
    for (const m of this.all) if (!m.match(a)) return false;
    return true;
  }
}

class Or implements Matcher {
  constructor(private readonly any: Matcher[]) {}
  match(a: AuthzAttributes): boolean {
    for (const m of this.any) if (m.match(a)) return true;
    return false;
  }
}

class Not implements Matcher {
  constructor(private readonly inner: Matcher) {}
  match(a: AuthzAttributes): boolean {
    return !this.inner.match(a);
  }
}

/** Strips `:port` from an authority (`[v6]:port` too). */
export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(0, end + 1) : host;
  }
  const c = host.lastIndexOf(':');
  return c > 0 && host.indexOf(':') === c && /^\d+$/.test(host.slice(c + 1)) ? host.slice(0, c) : host;
}

/**
 * How a header rule reads a header with several values (repeated field lines, or a comma list
 * in one line), chosen so that the ambiguity never lets a request through: where a match refuses
 * the request (a DENY rule, or a negated ALLOW rule) any single value matching is enough; where a
 * match lets it through (an ALLOW rule, or a negated DENY rule) every value must match.
 */
export const enum Lean {
  /** A match refuses: any value (line, or element of a comma list) matching is a match. */
  Match,
  /** A match lets through: every line must match (for an inverted matcher, every list element too). */
  Miss,
}

function flip(l: Lean): Lean {
  return l === Lean.Match ? Lean.Miss : Lean.Match;
}

class Header implements Matcher {
  private readonly authority: boolean;
  constructor(private readonly h: HeaderMatch, private readonly lean: Lean) {
    this.authority = h.name === ':authority' || h.name === 'host';
  }
  match(a: AuthzAttributes): boolean {
    const values = a.headerValues(this.h.name);
    if (values === undefined || this.h.kind === HeaderKind.Present) return this.h.test(values === undefined ? undefined : values.join(','));
    if (this.authority) {
      // Case-insensitive and with or without the port (CVE-2021-39155).
      const host = values[0].toLowerCase();
      return this.h.test(host) || this.h.test(stripPort(host));
    }
    const h = this.h;
    if (this.lean === Lean.Match) {
      for (const v of values) {
        if (h.test(v)) return true;
        if (v.indexOf(',') >= 0) for (const e of v.split(',')) if (h.test(trimOws(e))) return true;
      }
      return false;
    }
    for (const v of values) {
      if (!h.test(v)) return false;
      if (h.invert && v.indexOf(',') >= 0) for (const e of v.split(',')) if (!h.test(trimOws(e))) return false;
    }
    return true;
  }
}

class UrlPath implements Matcher {
  constructor(private readonly m: StringMatch) {}
  match(a: AuthzAttributes): boolean {
    const p = a.path();
    return p !== null && this.m.test(p);
  }
}

class Ip implements Matcher {
  constructor(private readonly cidr: Cidr, private readonly which: 'direct' | 'remote' | 'destination') {}
  match(a: AuthzAttributes): boolean {
    const ip = this.which === 'direct' ? a.directRemoteIp : this.which === 'remote' ? a.remoteIp : a.destinationIp;
    return ip !== '' && cidrContains(this.cidr, ip);
  }
}

class Port implements Matcher {
  constructor(private readonly from: number, private readonly to: number) {}
  match(a: AuthzAttributes): boolean {
    return a.destinationPort >= this.from && a.destinationPort < this.to;
  }
}

class Authenticated implements Matcher {
  constructor(private readonly m: StringMatch | null) {}
  match(a: AuthzAttributes): boolean {
    if (!a.authenticated) return false;
    return this.m === null ? true : this.m.test(a.principal);
  }
}

class Sni implements Matcher {
  constructor(private readonly m: StringMatch) {}
  match(a: AuthzAttributes): boolean {
    return this.m.test(a.sni);
  }
}

/** A compiled `ValueMatcher` (string, list one_of, presence, bool, exact number). */
interface ValueTest {
  test(v: unknown): boolean;
}

class Metadata implements Matcher {
  constructor(private readonly filter: string, private readonly path: string[], private readonly value: ValueTest, private readonly invert: boolean) {}
  match(a: AuthzAttributes): boolean {
    let v: unknown = a.metadata?.[this.filter];
    for (const k of this.path) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    const r = this.value.test(v);
    return this.invert ? !r : r;
  }
}

function compileValue(v: Dec, field: string): ValueTest {
  switch (v.match_pattern) {
    case 'string_match': {
      const m = compileStringMatcher(v.string_match, `${field}.string_match`);
      return { test: (x) => typeof x === 'string' && m.test(x) };
    }
    case 'list_match': {
      const inner = compileValue(v.list_match?.one_of ?? {}, `${field}.list_match.one_of`);
      return { test: (x) => Array.isArray(x) && x.some((e) => inner.test(e)) };
    }
    case 'present_match': return { test: (x) => (x !== undefined && x !== null) === !!v.present_match };
    case 'bool_match': return { test: (x) => x === !!v.bool_match };
    case 'null_match': return { test: (x) => x === null || x === undefined };
    case 'double_match': {
      if (v.double_match?.match_pattern !== 'exact') reject(`${field}.double_match`, 'only exact is supported');
      const want = Number(v.double_match.exact);
      return { test: (x) => Number(x) === want };
    }
    default: return reject(field, `value matcher "${v.match_pattern ?? ''}" is not supported`);
  }
}

function compileCidr(c: Dec, field: string): Cidr {
  const a = ipToBigint(c?.address_prefix ?? '');
  if (!a) reject(`${field}.address_prefix`, `"${c?.address_prefix ?? ''}" is not an IP address`);
  const bits = c.prefix_len ? Number(c.prefix_len.value) : a.v6 ? 128 : 32;
  return { base: a.n, bits, v6: a.v6 };
}

function compileMetadata(m: Dec, field: string): Matcher {
  const path = ((m.path ?? []) as Dec[]).map((s, i) => {
    if (!s.key) reject(`${field}.path[${i}].key`, 'is empty');
    return s.key as string;
  });
  if (!m.filter) reject(`${field}.filter`, 'is empty');
  return new Metadata(m.filter, path, compileValue(m.value ?? {}, `${field}.value`), !!m.invert);
}

/** Compiles an Envoy `Permission`. */
export function compilePermission(p: Dec, field: string, layer: 'http' | 'tcp', lean: Lean = Lean.Match): Matcher {
  switch (p.rule) {
    case 'any': return ANY;
    case 'and_rules': return new And(((p.and_rules?.rules ?? []) as Dec[]).map((r, i) => compilePermission(r, `${field}.and_rules.rules[${i}]`, layer, lean)));
    case 'or_rules': return new Or(((p.or_rules?.rules ?? []) as Dec[]).map((r, i) => compilePermission(r, `${field}.or_rules.rules[${i}]`, layer, lean)));
    case 'not_rule': return new Not(compilePermission(p.not_rule, `${field}.not_rule`, layer, flip(lean)));
    case 'header':
      if (layer === 'tcp') reject(`${field}.header`, 'header rules need an HTTP filter');
      return new Header(compileHeaderMatcher(p.header, `${field}.header`), lean);
    case 'url_path':
      if (layer === 'tcp') reject(`${field}.url_path`, 'path rules need an HTTP filter');
      if (p.url_path?.rule !== 'path') reject(`${field}.url_path`, 'only path matchers are supported');
      return new UrlPath(compileStringMatcher(p.url_path.path, `${field}.url_path.path`));
    case 'destination_ip': return new Ip(compileCidr(p.destination_ip, `${field}.destination_ip`), 'destination');
    case 'destination_port': return new Port(p.destination_port, p.destination_port + 1);
    case 'destination_port_range': return new Port(Number(p.destination_port_range.start), Number(p.destination_port_range.end));
    case 'metadata': return compileMetadata(p.metadata, `${field}.metadata`);
    case 'requested_server_name': return new Sni(compileStringMatcher(p.requested_server_name, `${field}.requested_server_name`));
    default: return reject(field, `permission "${p.rule ?? ''}" is not supported`);
  }
}

/** Compiles an Envoy `Principal`. */
export function compilePrincipal(p: Dec, field: string, layer: 'http' | 'tcp', lean: Lean = Lean.Match): Matcher {
  switch (p.identifier) {
    case 'any': return ANY;
    case 'and_ids': return new And(((p.and_ids?.ids ?? []) as Dec[]).map((r, i) => compilePrincipal(r, `${field}.and_ids.ids[${i}]`, layer, lean)));
    case 'or_ids': return new Or(((p.or_ids?.ids ?? []) as Dec[]).map((r, i) => compilePrincipal(r, `${field}.or_ids.ids[${i}]`, layer, lean)));
    case 'not_id': return new Not(compilePrincipal(p.not_id, `${field}.not_id`, layer, flip(lean)));
    case 'authenticated': return new Authenticated(p.authenticated?.principal_name ? compileStringMatcher(p.authenticated.principal_name, `${field}.authenticated.principal_name`) : null);
    case 'source_ip':
    case 'direct_remote_ip': return new Ip(compileCidr(p[p.identifier], `${field}.${p.identifier}`), 'direct');
    case 'remote_ip': return new Ip(compileCidr(p.remote_ip, `${field}.remote_ip`), 'remote');
    case 'header':
      if (layer === 'tcp') reject(`${field}.header`, 'header rules need an HTTP filter');
      return new Header(compileHeaderMatcher(p.header, `${field}.header`), lean);
    case 'url_path':
      if (layer === 'tcp') reject(`${field}.url_path`, 'path rules need an HTTP filter');
      return new UrlPath(compileStringMatcher(p.url_path.path, `${field}.url_path.path`));
    case 'metadata': return compileMetadata(p.metadata, `${field}.metadata`);
    default: return reject(field, `principal "${p.identifier ?? ''}" is not supported`);
  }
}

/** One compiled policy. */
interface CompiledPolicy {
  name: string;
  permissions: Matcher;
  principals: Matcher;
}

/** The outcome of one RBAC engine. */
export interface RbacDecision {
  allowed: boolean;
  /** The policy that matched, or null. */
  policy: string | null;
}

/** A compiled `envoy.config.rbac.v3.RBAC`. */
export class RbacEngine {
  constructor(readonly action: 'ALLOW' | 'DENY' | 'LOG', private readonly policies: readonly CompiledPolicy[]) {}

  /** The name of the first policy that matches, or null. */
  matching(a: AuthzAttributes): string | null {
    for (const p of this.policies) if (p.permissions.match(a) && p.principals.match(a)) return p.name;
    return null;
  }

  /** ALLOW: allowed when a policy matches; DENY: refused when one does; LOG (Istio's AUDIT): never refuses. */
  decide(a: AuthzAttributes): RbacDecision {
    const policy = this.matching(a);
    return { allowed: this.action === 'ALLOW' ? policy !== null : this.action === 'LOG' || policy === null, policy };
  }
}

/** Compiles a decoded `envoy.config.rbac.v3.RBAC`; throws ConfigError naming the field. */
export function compileRbac(rules: Dec, field: string, layer: 'http' | 'tcp'): RbacEngine {
  const action = rules.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'LOG') reject(`${field}.action`, `${action} is not supported (ALLOW, DENY or LOG)`);
  const policies: CompiledPolicy[] = [];
  const lean = action === 'DENY' ? Lean.Match : Lean.Miss;
  for (const name of Object.keys(rules.policies ?? {}).sort()) {
    const p = rules.policies[name] as Dec;
    const pf = `${field}.policies["${name}"]`;
    if (p.condition || p.checked_condition) reject(`${pf}.condition`, 'CEL conditions are not supported');
    const perms = ((p.permissions ?? []) as Dec[]).map((x, i) => compilePermission(x, `${pf}.permissions[${i}]`, layer, lean));
    const princ = ((p.principals ?? []) as Dec[]).map((x, i) => compilePrincipal(x, `${pf}.principals[${i}]`, layer, lean));
    policies.push({ name, permissions: perms.length === 1 ? perms[0] : new Or(perms), principals: princ.length === 1 ? princ[0] : new Or(princ) });
  }
  return new RbacEngine(action, policies);
}

/**
 * Compiles the typed config of an RBAC filter (`extensions.filters.http.rbac.v3.RBAC` or
 * `extensions.filters.network.rbac.v3.RBAC`); null when it has no `rules` (the filter lets
 * everything through, as in Envoy).
 */
export function compileRbacFilter(cfg: Dec, field: string, layer: 'http' | 'tcp'): RbacEngine | null {
  if (cfg.matcher) reject(`${field}.matcher`, 'matcher-based RBAC is not supported');
  if (!cfg.rules) return null;
  return compileRbac(cfg.rules, `${field}.rules`, layer);
}

/** Runs engines in filter order (the control plane puts DENY before ALLOW); the first refusal wins. */
export function authorize(engines: readonly RbacEngine[], a: AuthzAttributes): RbacDecision {
  let last: RbacDecision = { allowed: true, policy: null };
  for (const e of engines) {
    last = e.decide(a);
    if (!last.allowed) return last;
  }
  return last;
}
