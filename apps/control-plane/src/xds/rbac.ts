/**
 * AuthorizationPolicy → Envoy RBAC (`envoy.config.rbac.v3.RBAC`). One RBAC filter per action
 * (DENY first, then ALLOW), one Envoy policy per rule: `from` sources become principals, `to`
 * operations become permissions, `when` conditions go to whichever side their key belongs to.
 * Istio semantics: an ALLOW policy with no rules allows nothing; `rules: [{}]` allows everything.
 */
import type { AuthorizationPolicySpec, AuthzOperation, AuthzRule, AuthzSource } from '@tsmesh/mesh-config';
import type { Config } from '../model/push-context';

type Json = Record<string, unknown>;

/** Which parts of an Envoy RBAC a policy can use: HTTP filters can match paths, methods, headers. */
export type RbacLayer = 'http' | 'tcp';

function orIds(ids: Json[]): Json {
  return ids.length === 1 ? ids[0] : { or_ids: { ids } };
}
function orRules(rules: Json[]): Json {
  return rules.length === 1 ? rules[0] : { or_rules: { rules } };
}

function cidr(block: string): Json {
  const [address, len] = block.split('/');
  return { address_prefix: address, prefix_len: { value: Number(len ?? (address.includes(':') ? 128 : 32)) } };
}

/** Istio principal / namespace patterns (`*`, `prefix*`, `*suffix`) as a StringMatcher on the SPIFFE URI. */
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
function valueMatcher(v: string): Json {
  return pathMatcher(v);
}

function principalIds(src: AuthzSource): Json[] {
  const and: Json[] = [];
  const field = (values: string[] | undefined, id: (v: string) => Json, negate: boolean) => {
    if (!values?.length) return;
    const x = orIds(values.map(id));
    and.push(negate ? { not_id: x } : x);
  };
  const auth = (v: string) => ({ authenticated: { principal_name: principalMatcher(v) } });
  const ns = (v: string) => ({ authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*` } } } });
  const reqPrincipal = (v: string) => ({ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: valueMatcher(v) } } });
  field(src.principals, auth, false);
  field(src.notPrincipals, auth, true);
  field(src.requestPrincipals, reqPrincipal, false);
  field(src.notRequestPrincipals, reqPrincipal, true);
  field(src.namespaces, ns, false);
  field(src.notNamespaces, ns, true);
  field(src.ipBlocks, (b) => ({ direct_remote_ip: cidr(b) }), false);
  field(src.notIpBlocks, (b) => ({ direct_remote_ip: cidr(b) }), true);
  field(src.remoteIpBlocks, (b) => ({ remote_ip: cidr(b) }), false);
  field(src.notRemoteIpBlocks, (b) => ({ remote_ip: cidr(b) }), true);
  return and;
}

function permissionRules(op: AuthzOperation, layer: RbacLayer): Json[] | null {
  const and: Json[] = [];
  const field = (values: string[] | undefined, id: (v: string) => Json, negate: boolean) => {
    if (!values?.length) return;
    const x = orRules(values.map(id));
    and.push(negate ? { not_rule: x } : x);
  };
  const header = (name: string) => (v: string) => ({ header: { name, string_match: valueMatcher(v) } });
  if (layer === 'tcp' && (op.methods?.length || op.paths?.length || op.hosts?.length || op.notMethods?.length || op.notPaths?.length || op.notHosts?.length)) {
    // HTTP-only fields on a TCP port: the operation can never match (Istio drops such rules for ALLOW).
    return null;
  }
  field(op.hosts, (h) => ({ header: { name: ':authority', string_match: { ...pathMatcher(h), ignore_case: true } } }), false);
  field(op.notHosts, (h) => ({ header: { name: ':authority', string_match: { ...pathMatcher(h), ignore_case: true } } }), true);
  field(op.methods, header(':method'), false);
  field(op.notMethods, header(':method'), true);
  field(op.paths, (p) => ({ url_path: { path: pathMatcher(p) } }), false);
  field(op.notPaths, (p) => ({ url_path: { path: pathMatcher(p) } }), true);
  field(op.ports, (p) => ({ destination_port: Number(p) }), false);
  field(op.notPorts, (p) => ({ destination_port: Number(p) }), true);
  return and;
}

function whenCondition(key: string, values: string[] | undefined, notValues: string[] | undefined, layer: RbacLayer): { side: 'principal' | 'permission'; id: Json } | null {
  const one = (v: string): Json | null => {
    if (key === 'source.ip') return { direct_remote_ip: cidr(v) };
    if (key === 'remote.ip') return { remote_ip: cidr(v) };
    if (key === 'source.namespace') return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${v}/.*` } } } };
    if (key === 'source.principal') return { authenticated: { principal_name: principalMatcher(v) } };
    if (key === 'request.auth.principal') return { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: valueMatcher(v) } } };
    if (key === 'request.auth.audiences' || key === 'request.auth.presenter') return { metadata: { filter: 'istio_authn', path: [{ key }], value: { string_match: valueMatcher(v) } } };
    const claim = /^request\.auth\.claims\[(.+)\]$/.exec(key);
    if (claim) {
      // Nested claims are written request.auth.claims[a][b]; every claim value is a list of strings.
      const path = [{ key: 'request.auth.claims' }, ...claim[1].split('][').map((k) => ({ key: k }))];
      return { metadata: { filter: 'istio_authn', path, value: { list_match: { one_of: { string_match: valueMatcher(v) } } } } };
    }
    if (key === 'destination.port') return { destination_port: Number(v) };
    if (key === 'destination.ip') return { destination_ip: cidr(v) };
    if (key === 'connection.sni') return { requested_server_name: valueMatcher(v) };
    const h = /^request\.headers\[(.+)\]$/.exec(key);
    if (h && layer === 'http') return { header: { name: h[1].toLowerCase(), string_match: valueMatcher(v) } };
    return null;
  };
  const side = key.startsWith('source.') || key.startsWith('remote.') || key.startsWith('request.auth.') ? 'principal' : 'permission';
  const pos = (values ?? []).map(one);
  const neg = (notValues ?? []).map(one);
  if (pos.some((x) => x === null) || neg.some((x) => x === null)) return null;
  const parts: Json[] = [];
  const combine = side === 'principal' ? orIds : orRules;
  if (pos.length) parts.push(combine(pos as Json[]));
  if (neg.length) parts.push(side === 'principal' ? { not_id: orIds(neg as Json[]) } : { not_rule: orRules(neg as Json[]) });
  if (parts.length === 0) return null;
  const id = parts.length === 1 ? parts[0] : side === 'principal' ? { and_ids: { ids: parts } } : { and_rules: { rules: parts } };
  return { side, id };
}

/** One Envoy policy for one rule, or null when the rule cannot match at this layer. */
export function rulePolicy(rule: AuthzRule, layer: RbacLayer): { permissions: Json[]; principals: Json[] } | null {
  const principalsAnd: Json[] = [];
  const permissionsAnd: Json[] = [];
  if (rule.from?.length) {
    principalsAnd.push(orIds(rule.from.map((f) => {
      const ids = principalIds(f.source ?? {});
      return ids.length === 0 ? { any: true } : ids.length === 1 ? ids[0] : { and_ids: { ids } };
    })));
  }
  if (rule.to?.length) {
    const ops = rule.to.map((t) => permissionRules(t.operation ?? {}, layer)).filter((x): x is Json[] => x !== null);
    if (ops.length === 0) return null;
    permissionsAnd.push(orRules(ops.map((rules) => (rules.length === 0 ? { any: true } : rules.length === 1 ? rules[0] : { and_rules: { rules } }))));
  }
  for (const w of rule.when ?? []) {
    const c = whenCondition(w.key, w.values, w.notValues, layer);
    if (!c) return null;
    (c.side === 'principal' ? principalsAnd : permissionsAnd).push(c.id);
  }
  return {
    principals: [principalsAnd.length === 0 ? { any: true } : principalsAnd.length === 1 ? principalsAnd[0] : { and_ids: { ids: principalsAnd } }],
    permissions: [permissionsAnd.length === 0 ? { any: true } : permissionsAnd.length === 1 ? permissionsAnd[0] : { and_rules: { rules: permissionsAnd } }],
  };
}

/**
 * The RBAC rule sets for a workload: `deny` and `allow` (`envoy.config.rbac.v3.RBAC`), each
 * undefined when no policy of that action applies. AUDIT and CUSTOM policies are not enforced.
 */
export function rbacFor(policies: readonly Config<AuthorizationPolicySpec>[], layer: RbacLayer): { deny?: Json; allow?: Json } {
  const out: { deny?: Json; allow?: Json } = {};
  for (const action of ['DENY', 'ALLOW'] as const) {
    const list = policies.filter((p) => (p.spec.action ?? 'ALLOW') === action);
    if (!list.length) continue;
    const policiesMap: Record<string, Json> = {};
    for (const p of list) {
      (p.spec.rules ?? []).forEach((rule, i) => {
        const rp = rulePolicy(rule, layer);
        if (rp) policiesMap[`ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`] = rp;
      });
    }
    const key = action === 'DENY' ? 'deny' : 'allow';
    out[key] = { action, policies: policiesMap };
  }
  return out;
}
