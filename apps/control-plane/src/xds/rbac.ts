/**
 * AuthorizationPolicy → Envoy RBAC (`envoy.config.rbac.v3.RBAC`). One RBAC filter per action, in
 * Istio's order (AUDIT as `LOG`, then DENY, then ALLOW), one Envoy policy per rule: `from` sources
 * become principals, `to` operations become permissions, `when` conditions go to whichever side
 * their key belongs to. Istio semantics: an ALLOW policy with no rules allows nothing;
 * `rules: [{}]` allows everything.
 *
 * Fail closed, as Istio translates: a value that cannot be translated (an unknown condition key,
 * a malformed IP block, an HTTP-only field on a TCP port) makes an ALLOW rule be skipped (it
 * allows less) and is ignored in a DENY or AUDIT rule (it denies more) — a DENY policy never
 * turns into "allow all". CUSTOM policies (external authorization, which tsmesh does not run)
 * are enforced as DENY: what they would send to an authorizer is refused, as Envoy's ext_authz
 * refuses when its service cannot be reached.
 */
import { ExtensionTypeUrl, pack, type Filter, type HttpFilter } from '@tsmesh/xds';
import { checkIpBlock, checkPort, parseConditionKey, type AuthorizationPolicySpec, type AuthzRule, type ConditionKey } from '@tsmesh/mesh-config';
import type { Config } from '../model/push-context';

type Json = Record<string, unknown>;

/** Which parts of an Envoy RBAC a policy can use: HTTP filters can match paths, methods, headers. */
export type RbacLayer = 'http' | 'tcp';

/** The action a rule is translated for: ALLOW skips what it cannot translate, the others ignore it. */
export type RbacAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** Thrown inside an ALLOW rule that cannot be translated: the rule is skipped. */
class SkipRule extends Error {}

function orIds(ids: Json[]): Json {
  return ids.length === 1 ? ids[0] : { or_ids: { ids } };
}
function orRules(rules: Json[]): Json {
  return rules.length === 1 ? rules[0] : { or_rules: { rules } };
}
function andIds(ids: Json[]): Json {
  return ids.length === 0 ? { any: true } : ids.length === 1 ? ids[0] : { and_ids: { ids } };
}
function andRules(rules: Json[]): Json {
  return rules.length === 0 ? { any: true } : rules.length === 1 ? rules[0] : { and_rules: { rules } };
}

function cidr(block: string): Json {
  const [address, len] = block.split('/');
  return { address_prefix: address, prefix_len: { value: Number(len ?? (address.includes(':') ? 128 : 32)) } };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Istio principal patterns (`*`, `prefix*`, `*suffix`) as a StringMatcher on the SPIFFE URI. */
function principalMatcher(p: string): Json {
  if (p === '*') return { safe_regex: { regex: '.+' } };
  if (p.endsWith('*')) return { prefix: `spiffe://${p.slice(0, -1)}` };
  if (p.startsWith('*')) return { suffix: p.slice(1) };
  return { exact: `spiffe://${p}` };
}
function pathMatcher(p: string): Json {
  if (p === '*') return { safe_regex: { regex: '.*' } };
  if (p.endsWith('*')) return { prefix: p.slice(0, -1) };
  if (p.startsWith('*')) return { suffix: p.slice(1) };
  return { exact: p };
}
const valueMatcher = pathMatcher;

/** A namespace pattern (`*` as a wildcard) on the `/ns/<namespace>/` segment of the SPIFFE URI. */
function namespaceId(v: string): Json {
  return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${escapeRe(v).replace(/\\\*/g, '.*')}/.*` } } } };
}
const authnMetadata = (path: Json[], value: Json): Json => ({ metadata: { filter: 'istio_authn', path, value } });

/** Translation state of one rule: what to do with a value that cannot be translated. */
class Translation {
  constructor(readonly action: RbacAction, readonly layer: RbacLayer, readonly problems: string[]) {}

  /** ALLOW: skip the rule. DENY / AUDIT / CUSTOM: ignore the value (the rule matches more). */
  fail(what: string): null {
    if (this.action === 'ALLOW') throw new SkipRule(what);
    this.problems.push(`${what} (ignored: the ${this.action} rule matches more)`);
    return null;
  }

  /** Translates each string of a list field; values that fail are handled by {@link fail}. */
  each(field: string, values: unknown, make: (v: string) => Json | string): Json[] {
    if (values === undefined || values === null) return [];
    if (!Array.isArray(values)) {
      this.fail(`${field}: not a list`);
      return [];
    }
    const out: Json[] = [];
    for (const v of values) {
      if (typeof v !== 'string' || !v) {
        this.fail(`${field}: ${JSON.stringify(v)} is not a non-empty string`);
        continue;
      }
      const r = make(v);
      if (typeof r === 'string') this.fail(`${field}: ${r}`);
      else out.push(r);
    }
    return out;
  }
}

const ipId = (kind: 'direct_remote_ip' | 'remote_ip' | 'destination_ip') => (v: string): Json | string => checkIpBlock(v) ?? { [kind]: cidr(v) };
const portRule = (v: string): Json | string => checkPort(v) ?? { destination_port: Number(v) };

function principalIds(src: unknown, t: Translation, at: string): Json[] {
  const s = (src && typeof src === 'object' ? src : {}) as Record<string, unknown>;
  const and: Json[] = [];
  const field = (name: string, id: (v: string) => Json | string, negate: boolean) => {
    const ids = t.each(`${at}.${name}`, s[name], id);
    if (!ids.length) return;
    and.push(negate ? { not_id: orIds(ids) } : orIds(ids));
  };
  const auth = (v: string) => ({ authenticated: { principal_name: principalMatcher(v) } });
  const reqPrincipal = (v: string) => authnMetadata([{ key: 'request.auth.principal' }], { string_match: valueMatcher(v) });
  const httpOnly = (make: (v: string) => Json, name: string) => (v: string): Json | string => (t.layer === 'tcp' ? `${name} applies to HTTP only` : make(v));
  field('principals', auth, false);
  field('notPrincipals', auth, true);
  field('requestPrincipals', httpOnly(reqPrincipal, 'requestPrincipals'), false);
  field('notRequestPrincipals', httpOnly(reqPrincipal, 'notRequestPrincipals'), true);
  field('namespaces', namespaceId, false);
  field('notNamespaces', namespaceId, true);
  field('ipBlocks', ipId('direct_remote_ip'), false);
  field('notIpBlocks', ipId('direct_remote_ip'), true);
  field('remoteIpBlocks', ipId('remote_ip'), false);
  field('notRemoteIpBlocks', ipId('remote_ip'), true);
  return and;
}

function permissionRules(op: unknown, t: Translation, at: string): Json[] {
  const o = (op && typeof op === 'object' ? op : {}) as Record<string, unknown>;
  const and: Json[] = [];
  const field = (name: string, rule: (v: string) => Json | string, negate: boolean) => {
    const rules = t.each(`${at}.${name}`, o[name], rule);
    if (!rules.length) return;
    and.push(negate ? { not_rule: orRules(rules) } : orRules(rules));
  };
  const http = (name: string, make: (v: string) => Json) => (v: string): Json | string => (t.layer === 'tcp' ? `${name} applies to HTTP only` : make(v));
  const host = (h: string) => ({ header: { name: ':authority', string_match: { ...pathMatcher(h), ignore_case: true } } });
  const method = (m: string) => ({ header: { name: ':method', string_match: valueMatcher(m) } });
  const path = (p: string) => ({ url_path: { path: pathMatcher(p) } });
  field('hosts', http('hosts', host), false);
  field('notHosts', http('notHosts', host), true);
  field('methods', http('methods', method), false);
  field('notMethods', http('notMethods', method), true);
  field('paths', http('paths', path), false);
  field('notPaths', http('notPaths', path), true);
  field('ports', portRule, false);
  field('notPorts', portRule, true);
  return and;
}

/** One value of a condition as an Envoy principal or permission, or the reason it cannot be one. */
function conditionValue(k: ConditionKey, v: string, layer: RbacLayer): Json | string {
  if (k.httpOnly && layer === 'tcp') return `${k.attribute} applies to HTTP only`;
  switch (k.attribute) {
    case 'source.ip': return ipId('direct_remote_ip')(v);
    case 'remote.ip': return ipId('remote_ip')(v);
    case 'destination.ip': return ipId('destination_ip')(v);
    case 'destination.port': return portRule(v);
    case 'source.namespace': return namespaceId(v);
    case 'source.principal': return { authenticated: { principal_name: principalMatcher(v) } };
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter': return authnMetadata([{ key: k.attribute }], { string_match: valueMatcher(v) });
    // Every claim value is a list of strings; nested claims are written request.auth.claims[a][b].
    case 'request.auth.claims': return authnMetadata([{ key: 'request.auth.claims' }, ...k.claim!.map((c) => ({ key: c }))], { list_match: { one_of: { string_match: valueMatcher(v) } } });
    case 'connection.sni': return { requested_server_name: valueMatcher(v) };
    case 'request.headers': return { header: { name: k.header!, string_match: valueMatcher(v) } };
    case 'experimental.envoy.filters': return 'experimental.envoy.filters.* metadata is not available in tsmesh\'s proxy';
  }
}

const PRINCIPAL_SIDE = new Set(['source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter', 'request.auth.claims']);

function whenCondition(w: unknown, t: Translation, at: string): { side: 'principal' | 'permission'; id: Json } | null {
  if (!w || typeof w !== 'object') return t.fail(`${at}: not a condition`);
  const c = w as Record<string, unknown>;
  const key = parseConditionKey(c.key);
  if (typeof key === 'string') return t.fail(`${at}.key: ${key}`);
  const side = PRINCIPAL_SIDE.has(key.attribute) ? 'principal' : 'permission';
  const pos = t.each(`${at}.values`, c.values, (v) => conditionValue(key, v, t.layer));
  const neg = t.each(`${at}.notValues`, c.notValues, (v) => conditionValue(key, v, t.layer));
  const parts: Json[] = [];
  if (side === 'principal') {
    if (pos.length) parts.push(orIds(pos));
    if (neg.length) parts.push({ not_id: orIds(neg) });
    return parts.length ? { side, id: andIds(parts) } : null;
  }
  if (pos.length) parts.push(orRules(pos));
  if (neg.length) parts.push({ not_rule: orRules(neg) });
  return parts.length ? { side, id: andRules(parts) } : null;
}

/**
 * One Envoy policy for one rule, or null when an ALLOW rule cannot be translated (or cannot
 * match at this layer). `problems` collects what was skipped or ignored, for logs and status.
 */
export function rulePolicy(rule: AuthzRule | unknown, layer: RbacLayer, action: RbacAction = 'ALLOW', problems: string[] = [], at = 'rule'): { permissions: Json[]; principals: Json[] } | null {
  const t = new Translation(action, layer, problems);
  try {
    if (!rule || typeof rule !== 'object' || Array.isArray(rule)) {
      t.fail(`${at}: not a rule`);
      return { principals: [{ any: true }], permissions: [{ any: true }] };
    }
    const r = rule as Record<string, unknown>;
    const principalsAnd: Json[] = [];
    const permissionsAnd: Json[] = [];
    if (Array.isArray(r.from) && r.from.length) {
      principalsAnd.push(orIds(r.from.map((f, i) => andIds(principalIds((f as { source?: unknown } | null)?.source, t, `${at}.from[${i}].source`)))));
    } else if (r.from !== undefined && !Array.isArray(r.from)) t.fail(`${at}.from: not a list`);
    if (Array.isArray(r.to) && r.to.length) {
      permissionsAnd.push(orRules(r.to.map((x, i) => andRules(permissionRules((x as { operation?: unknown } | null)?.operation, t, `${at}.to[${i}].operation`)))));
    } else if (r.to !== undefined && !Array.isArray(r.to)) t.fail(`${at}.to: not a list`);
    const when = r.when === undefined ? [] : Array.isArray(r.when) ? r.when : (t.fail(`${at}.when: not a list`), []);
    when.forEach((w, i) => {
      const c = whenCondition(w, t, `${at}.when[${i}]`);
      if (c) (c.side === 'principal' ? principalsAnd : permissionsAnd).push(c.id);
    });
    return { principals: [andIds(principalsAnd)], permissions: [andRules(permissionsAnd)] };
  } catch (err) {
    if (!(err instanceof SkipRule)) throw err;
    problems.push(`${at}: ${err.message} (the ALLOW rule is skipped)`);
    return null;
  }
}

/** The RBAC rule sets of a workload, each undefined when no policy of that kind applies. */
export interface RbacRules {
  /** AUDIT policies: Envoy RBAC action LOG (marks matching requests, never refuses). */
  audit?: Json;
  /** DENY policies, and CUSTOM ones enforced as DENY. */
  deny?: Json;
  allow?: Json;
}

const actionOf = (p: Config<AuthorizationPolicySpec>): RbacAction => {
  const a = (p.spec as { action?: unknown }).action;
  return a === 'DENY' || a === 'AUDIT' || a === 'CUSTOM' ? a : 'ALLOW';
};

/**
 * The RBAC rule sets (`envoy.config.rbac.v3.RBAC`) for the policies that apply to a workload.
 * `problems` collects, per policy, what could not be translated and how it was handled.
 */
export function rbacFor(policies: readonly Config<AuthorizationPolicySpec>[], layer: RbacLayer, problems?: Map<string, string[]>): RbacRules {
  const out: RbacRules = {};
  const groups: [keyof RbacRules, 'LOG' | 'DENY' | 'ALLOW', RbacAction[]][] = [['audit', 'LOG', ['AUDIT']], ['deny', 'DENY', ['CUSTOM', 'DENY']], ['allow', 'ALLOW', ['ALLOW']]];
  for (const [key, envoyAction, actions] of groups) {
    const list = policies.filter((p) => actions.includes(actionOf(p)));
    if (!list.length) continue;
    const policiesMap: Record<string, Json> = {};
    for (const p of list) {
      const rules = (p.spec as { rules?: unknown }).rules;
      const found: string[] = [];
      if (rules !== undefined && !Array.isArray(rules)) {
        // Rules that are not a list: an ALLOW policy allows nothing; others match every request.
        found.push(`spec.rules: not a list (${actionOf(p) === 'ALLOW' ? 'the policy allows nothing' : 'the policy matches every request'})`);
        if (actionOf(p) !== 'ALLOW') policiesMap[`ns[${p.namespace}]-policy[${p.name}]-rule[0]`] = { principals: [{ any: true }], permissions: [{ any: true }] };
      }
      (Array.isArray(rules) ? rules : []).forEach((rule, i) => {
        const rp = rulePolicy(rule, layer, actionOf(p), found, `spec.rules[${i}]`);
        if (rp) policiesMap[`ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`] = rp;
      });
      if (found.length && problems) problems.set(`${p.namespace}/${p.name}`, [...(problems.get(`${p.namespace}/${p.name}`) ?? []), ...found]);
    }
    out[key] = { action: envoyAction, policies: policiesMap };
  }
  return out;
}

/** Envoy HTTP RBAC filters for a workload's rule sets, in Istio's order: AUDIT (LOG), DENY, ALLOW. */
export function rbacHttpFilters(rb: RbacRules): HttpFilter[] {
  const out: HttpFilter[] = [];
  for (const rules of [rb.audit, rb.deny, rb.allow]) {
    if (rules) out.push({ name: 'envoy.filters.http.rbac', typed_config: pack(ExtensionTypeUrl.HttpRbac, { rules }) });
  }
  return out;
}

/** Envoy network RBAC filters for a workload's rule sets (TCP chains), same order. */
export function rbacNetworkFilters(rb: RbacRules, statPrefix: string): Filter[] {
  const out: Filter[] = [];
  for (const [name, rules] of [['audit', rb.audit], ['deny', rb.deny], ['allow', rb.allow]] as const) {
    if (rules) out.push({ name: 'envoy.filters.network.rbac', typed_config: pack(ExtensionTypeUrl.NetworkRbac, { stat_prefix: `${statPrefix}.${name}`, rules }) });
  }
  return out;
}
