/**
 * Semantic checks of Istio's security kinds (AuthorizationPolicy, PeerAuthentication,
 * RequestAuthentication) beyond their structural schema: condition keys of `when` and the value
 * format each key takes, IP blocks, ports, empty sources and operations, provider rules, the
 * `selector` / `targetRef` exclusivity, JWT rule fields — the checks Istio's validation makes, so a
 * policy Istio refuses is refused here, naming the field. The structural schema (unknown fields,
 * types) is applied separately; this module is only the meaning of the values.
 */
import { isIP } from 'node:net';
import { issueAt, type ConfigResource } from '../resource';
import type { ConfigIssue } from '../issues';
import type { KubeObject } from '../types/meta';

/** What a `when` condition key reads (Istio's authorization policy conditions). */
export type ConditionAttribute =
  | 'request.headers' | 'source.ip' | 'remote.ip' | 'source.namespace' | 'source.principal'
  | 'request.auth.principal' | 'request.auth.audiences' | 'request.auth.presenter' | 'request.auth.claims'
  | 'destination.ip' | 'destination.port' | 'connection.sni' | 'experimental.envoy.filters';

/** A parsed condition key. */
export interface ConditionKey {
  attribute: ConditionAttribute;
  /** True for keys only an HTTP request has (headers, JWT attributes). */
  httpOnly: boolean;
  /** `request.headers[<name>]`: the header name, lower-cased. */
  header?: string;
  /** `request.auth.claims[a][b]`: the claim path. */
  claim?: string[];
}

const PLAIN: Record<string, { httpOnly: boolean }> = {
  'source.ip': { httpOnly: false },
  'remote.ip': { httpOnly: false },
  'source.namespace': { httpOnly: false },
  'source.principal': { httpOnly: false },
  'request.auth.principal': { httpOnly: true },
  'request.auth.audiences': { httpOnly: true },
  'request.auth.presenter': { httpOnly: true },
  'destination.ip': { httpOnly: false },
  'destination.port': { httpOnly: false },
  'connection.sni': { httpOnly: false },
};

/** Every key form Istio accepts, for messages. */
export const CONDITION_KEYS: readonly string[] = [
  'request.headers[<name>]', 'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'request.auth.principal',
  'request.auth.audiences', 'request.auth.presenter', 'request.auth.claims[<name>]', 'destination.ip', 'destination.port',
  'connection.sni', 'experimental.envoy.filters.*',
];

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a `when` key; a string (the reason) when Istio does not know it. */
export function parseConditionKey(key: unknown): ConditionKey | string {
  if (typeof key !== 'string' || !key) return 'key must not be empty';
  const plain = PLAIN[key];
  if (plain) return { attribute: key as ConditionAttribute, httpOnly: plain.httpOnly };
  if (key.startsWith('request.headers')) {
    const m = /^request\.headers\[([^\][]+)\]$/.exec(key);
    if (!m) return `"${key}" must be request.headers[<header name>]`;
    if (!HEADER_NAME.test(m[1])) return `"${m[1]}" in "${key}" is not an HTTP header name`;
    return { attribute: 'request.headers', httpOnly: true, header: m[1].toLowerCase() };
  }
  if (key.startsWith('request.auth.claims')) {
    const m = /^request\.auth\.claims((\[[^\][]+\])+)$/.exec(key);
    if (!m) return `"${key}" must be request.auth.claims[<claim>] (nested claims as [a][b])`;
    return { attribute: 'request.auth.claims', httpOnly: true, claim: m[1].slice(1, -1).split('][') };
  }
  if (key.startsWith('experimental.envoy.filters.') && key.length > 'experimental.envoy.filters.'.length) {
    return { attribute: 'experimental.envoy.filters', httpOnly: false };
  }
  const hint = suggestion(key);
  return `unknown condition key "${key}"${hint ? ` (did you mean ${hint}?)` : ''}; Istio accepts ${CONDITION_KEYS.join(', ')}`;
}

function suggestion(key: string): string | undefined {
  const bracket = key.indexOf('[');
  const head = bracket < 0 ? key : key.slice(0, bracket);
  const tail = bracket < 0 ? '' : key.slice(bracket);
  const candidates = [...Object.keys(PLAIN), 'request.headers', 'request.auth.claims'];
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = distance(head, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (!best) return undefined;
  return best === 'request.headers' || best === 'request.auth.claims' ? `${best}${tail || '[<name>]'}` : best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return row[b.length];
}

/** An IP address or CIDR block (`10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32`); the reason when it is not one. */
export function checkIpBlock(v: unknown): string | null {
  if (typeof v !== 'string' || !v) return 'must be an IP address or CIDR block, not empty';
  const [addr, len, extra] = v.split('/');
  const family = isIP(addr);
  if (!family || extra !== undefined) return `"${v}" is not an IP address or CIDR block`;
  if (len === undefined) return null;
  const n = Number(len);
  if (!/^\d+$/.test(len) || n > (family === 4 ? 32 : 128)) return `"${v}" has an invalid prefix length`;
  return null;
}

/** A port number 1–65535 written as a string or number; the reason when it is not one. */
export function checkPort(v: unknown): string | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? null : `"${String(v)}" is not a port number (1-65535)`;
}

/** The reason a `when` value cannot be used with `key`, or null. */
export function checkConditionValue(key: ConditionKey, v: unknown): string | null {
  if (typeof v !== 'string') return `values must be strings, not ${JSON.stringify(v)}`;
  if (!v) return 'empty values are not allowed';
  switch (key.attribute) {
    case 'source.ip': case 'remote.ip': case 'destination.ip': return checkIpBlock(v);
    case 'destination.port': return checkPort(v);
    default: return null;
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const SOURCE_IP_FIELDS = ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'];
const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces',
  'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains', ...SOURCE_IP_FIELDS];
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];

/** True when a list field is set with at least one value. */
const hasValues = (o: Obj, f: string) => Array.isArray(o[f]) && (o[f] as unknown[]).length > 0;

function checkStrings(r: ConfigResource, o: Obj, f: string, at: string, out: ConfigIssue[], each?: (v: string) => string | null): void {
  listOf(o[f]).forEach((v, k) => {
    const path = `${at}.${f}[${k}]`;
    if (typeof v !== 'string' || !v) {
      out.push(issueAt(r, path, 'AP_EMPTY_VALUE', 'values must be non-empty strings'));
      return;
    }
    const bad = each?.(v);
    if (bad) out.push(issueAt(r, path, /ip/i.test(f) ? 'AP_BAD_IP' : /port/i.test(f) ? 'AP_BAD_PORT' : 'AP_BAD_VALUE', bad));
  });
}

function checkSelectorTarget(r: ConfigResource, s: Obj, code: string, out: ConfigIssue[]): void {
  const refs = [...(s.targetRef !== undefined ? [['spec.targetRef', s.targetRef] as const] : []), ...listOf(s.targetRefs).map((t, i) => [`spec.targetRefs[${i}]`, t] as const)];
  for (const [at, ref] of refs) {
    // Kinds Istio refuses are reported by the schema rules; these are the ones it accepts that tsmesh's sidecars do not apply.
    if (!isObj(ref)) continue;
    const why = ref.kind === 'Service' || ref.kind === 'ServiceEntry'
      ? `a ${ref.kind} target is served by a waypoint, which tsmesh does not run`
      : ref.kind === 'GatewayClass' ? 'tsmesh applies Gateway targets, not GatewayClass ones' : undefined;
    if (why) out.push(issueAt(r, at, 'POLICY_TARGET_NOT_APPLIED', `${why}: no workload applies this reference (a Gateway target applies to that Gateway's workloads)`, 'warning'));
  }
  const sel = isObj(s.selector) && isObj(s.selector.matchLabels) && Object.keys(s.selector.matchLabels).length > 0;
  if (sel && (s.targetRef !== undefined || listOf(s.targetRefs).length)) {
    out.push(issueAt(r, s.targetRef !== undefined ? 'spec.targetRef' : 'spec.targetRefs', code, 'only one of selector, targetRef or targetRefs can be set'));
  }
  if (s.targetRef !== undefined && listOf(s.targetRefs).length) out.push(issueAt(r, 'spec.targetRefs', code, 'only one of targetRef or targetRefs can be set'));
}

/** AuthorizationPolicy checks (Istio's `ValidateAuthorizationPolicy`). */
function authorizationPolicy(r: ConfigResource, s: Obj): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  checkSelectorTarget(r, s, 'AP_SELECTOR_AND_TARGET', out);
  const action = s.action ?? 'ALLOW';
  if (action === 'CUSTOM') {
    out.push(issueAt(r, 'spec.action', 'AP_CUSTOM_UNSUPPORTED',
      'action CUSTOM (external authorization) is not supported by tsmesh; requests its rules match are denied, as an external authorizer that cannot be reached denies'));
  }
  listOf(s.rules).forEach((rule, i) => {
    const at = `spec.rules[${i}]`;
    if (!isObj(rule)) {
      out.push(issueAt(r, at, 'AP_BAD_RULE', 'a rule must be a mapping (from, to, when)'));
      return;
    }
    if (rule.from !== undefined && Array.isArray(rule.from) && rule.from.length === 0) out.push(issueAt(r, `${at}.from`, 'AP_EMPTY_FROM', '`from` must not be empty when set'));
    listOf(rule.from).forEach((f, j) => {
      const src = isObj(f) ? f.source : undefined;
      const sat = `${at}.from[${j}].source`;
      if (!isObj(src) || !SOURCE_FIELDS.some((x) => hasValues(src, x))) {
        out.push(issueAt(r, sat, 'AP_EMPTY_SOURCE', '`from.source` must set at least one field'));
        return;
      }
      for (const x of SOURCE_FIELDS) checkStrings(r, src, x, sat, out, SOURCE_IP_FIELDS.includes(x) ? (v) => checkIpBlock(v) : undefined);
    });
    if (rule.to !== undefined && Array.isArray(rule.to) && rule.to.length === 0) out.push(issueAt(r, `${at}.to`, 'AP_EMPTY_TO', '`to` must not be empty when set'));
    listOf(rule.to).forEach((t, j) => {
      const op = isObj(t) ? t.operation : undefined;
      const oat = `${at}.to[${j}].operation`;
      if (!isObj(op) || !OPERATION_FIELDS.some((x) => hasValues(op, x))) {
        out.push(issueAt(r, oat, 'AP_EMPTY_OPERATION', '`to.operation` must set at least one field'));
        return;
      }
      for (const x of OPERATION_FIELDS) {
        const port = x === 'ports' || x === 'notPorts';
        checkStrings(r, op, x, oat, out, port ? (v) => checkPort(v) : x.toLowerCase().includes('path') ? checkPath : undefined);
      }
    });
    listOf(rule.when).forEach((w, j) => {
      const wat = `${at}.when[${j}]`;
      if (!isObj(w)) {
        out.push(issueAt(r, wat, 'AP_BAD_CONDITION', 'a condition must be a mapping (key, values, notValues)'));
        return;
      }
      const key = parseConditionKey(w.key);
      if (typeof key === 'string') {
        out.push(issueAt(r, `${wat}.key`, 'AP_UNKNOWN_CONDITION_KEY', key));
        return;
      }
      if (!listOf(w.values).length && !listOf(w.notValues).length) out.push(issueAt(r, wat, 'AP_CONDITION_NO_VALUES', `at least one of values or notValues must be set for key "${String(w.key)}"`));
      for (const f of ['values', 'notValues'] as const) {
        listOf(w[f]).forEach((v, k) => {
          const bad = checkConditionValue(key, v);
          if (bad) out.push(issueAt(r, `${wat}.${f}[${k}]`, 'AP_BAD_CONDITION_VALUE', `${String(w.key)}: ${bad}`));
        });
      }
      if (key.attribute === 'experimental.envoy.filters') {
        out.push(issueAt(r, `${wat}.key`, 'AP_CONDITION_NOT_TRANSLATED',
          `"${String(w.key)}" is accepted (as by Istio) but tsmesh's proxy has no such filter metadata: an ALLOW rule using it never matches, a DENY rule ignores it (and denies more)`, 'warning'));
      }
    });
  });
  return out;
}

/** Istio's path rules: a path is `*`, `prefix*`, `*suffix`, an exact path, or a `{*}` / `{**}` template. */
function checkPath(v: string): string | null {
  if (v.includes('{') || v.includes('}')) {
    const segs = v.split('/');
    let doubleSeen = false;
    for (const seg of segs) {
      if (!seg.includes('{') && !seg.includes('}')) continue;
      if (seg !== '{*}' && seg !== '{**}') return `"${v}": a path template segment must be exactly {*} or {**}`;
      if (seg === '{**}') {
        if (doubleSeen) return `"${v}": {**} may appear only once`;
        doubleSeen = true;
      }
    }
    return null;
  }
  const stars = v.split('*').length - 1;
  if (stars > 1 || (stars === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*'))) return `"${v}": "*" is allowed only alone, as a prefix or as a suffix`;
  return null;
}

/** PeerAuthentication checks (Istio's `ValidatePeerAuthentication`). */
function peerAuthentication(r: ConfigResource, s: Obj): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  checkSelectorTarget(r, s, 'PA_SELECTOR_AND_TARGET', out);
  const sel = isObj(s.selector) ? s.selector.matchLabels : undefined;
  if (isObj(s.selector) && isObj(sel) && Object.keys(sel).length === 0 && isObj(s.portLevelMtls) && Object.keys(s.portLevelMtls).length) {
    out.push(issueAt(r, 'spec.selector.matchLabels', 'PA_EMPTY_SELECTOR', 'portLevelMtls needs a selector with at least one label'));
  }
  for (const p of Object.keys(isObj(s.portLevelMtls) ? s.portLevelMtls : {})) {
    if (p === '0') out.push(issueAt(r, `spec.portLevelMtls.${p}`, 'PA_BAD_PORT', 'port 0 is not a port number'));
  }
  return out;
}

const FORBIDDEN_OUTPUT_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade']);

/** RequestAuthentication checks (Istio's `ValidateRequestAuthentication` and `validateJwtRule`). */
function requestAuthentication(r: ConfigResource, s: Obj): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  checkSelectorTarget(r, s, 'RA_SELECTOR_AND_TARGET', out);
  listOf(s.jwtRules).forEach((rule, i) => {
    const at = `spec.jwtRules[${i}]`;
    if (!isObj(rule)) {
      out.push(issueAt(r, at, 'RA_BAD_RULE', 'a JWT rule must be a mapping'));
      return;
    }
    // issuer: required by the schema.
    listOf(rule.audiences).forEach((a, j) => {
      if (typeof a !== 'string' || !a) out.push(issueAt(r, `${at}.audiences[${j}]`, 'RA_EMPTY_VALUE', 'audiences must be non-empty strings'));
    });
    for (const f of ['jwksUri', 'jwks_uri'] as const) {
      const uri = rule[f];
      if (typeof uri !== 'string' || !uri) continue;
      let u: URL | undefined;
      try {
        u = new URL(uri);
      } catch {
        u = undefined;
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
        out.push(issueAt(r, `${at}.${f}`, 'RA_BAD_JWKS_URI', `"${uri}" is not an http or https URL with a host`));
      }
    }
    if (rule.jwksUri && rule.jwks_uri && rule.jwksUri !== rule.jwks_uri) out.push(issueAt(r, `${at}.jwks_uri`, 'RA_BAD_JWKS_URI', 'jwks_uri (the older spelling of jwksUri) disagrees with jwksUri'));
    if (typeof rule.jwks === 'string' && rule.jwks) {
      let keys: unknown;
      try {
        keys = (JSON.parse(rule.jwks) as { keys?: unknown }).keys;
      } catch (err) {
        out.push(issueAt(r, `${at}.jwks`, 'RA_BAD_JWKS', `not JSON: ${(err as Error).message}`));
        keys = null;
      }
      if (keys !== null && !Array.isArray(keys)) out.push(issueAt(r, `${at}.jwks`, 'RA_BAD_JWKS', 'a JSON Web Key Set needs a "keys" list'));
    }
    listOf(rule.fromHeaders).forEach((h, j) => {
      const name = isObj(h) ? h.name : undefined;
      if (typeof name !== 'string' || !HEADER_NAME.test(name)) out.push(issueAt(r, `${at}.fromHeaders[${j}].name`, 'RA_BAD_HEADER', 'must be an HTTP header name'));
    });
    listOf(rule.fromParams).forEach((p, j) => {
      if (typeof p !== 'string' || !p) out.push(issueAt(r, `${at}.fromParams[${j}]`, 'RA_EMPTY_VALUE', 'query parameter names must be non-empty'));
    });
    listOf(rule.fromCookies).forEach((c, j) => {
      if (typeof c !== 'string' || !c) out.push(issueAt(r, `${at}.fromCookies[${j}]`, 'RA_EMPTY_VALUE', 'cookie names must be non-empty'));
    });
    if (rule.outputPayloadToHeader !== undefined && (typeof rule.outputPayloadToHeader !== 'string' || !HEADER_NAME.test(rule.outputPayloadToHeader))) {
      out.push(issueAt(r, `${at}.outputPayloadToHeader`, 'RA_BAD_HEADER', 'must be an HTTP header name'));
    }
    const seen = new Set<string>();
    listOf(rule.outputClaimToHeaders).forEach((c, j) => {
      const cat = `${at}.outputClaimToHeaders[${j}]`;
      const header = isObj(c) ? c.header : undefined;
      const claim = isObj(c) ? c.claim : undefined;
      if (typeof header !== 'string' || !HEADER_NAME.test(header)) out.push(issueAt(r, `${cat}.header`, 'RA_BAD_HEADER', 'must be an HTTP header name'));
      else if (FORBIDDEN_OUTPUT_HEADERS.has(header.toLowerCase())) out.push(issueAt(r, `${cat}.header`, 'RA_BAD_HEADER', `"${header}" cannot be set from a claim`));
      else if (seen.has(header.toLowerCase())) out.push(issueAt(r, `${cat}.header`, 'RA_DUPLICATE_HEADER', `header "${header}" is set from two claims`));
      else seen.add(header.toLowerCase());
      if (typeof claim !== 'string' || !claim) out.push(issueAt(r, `${cat}.claim`, 'RA_EMPTY_VALUE', 'claim must be set'));
    });
  });
  return out;
}

/** Semantic issues of a security resource (AuthorizationPolicy, PeerAuthentication, RequestAuthentication); [] for other kinds. */
export function validateSecurity(r: ConfigResource): ConfigIssue[] {
  const raw = (r.object as KubeObject<unknown>).spec;
  const s = isObj(raw) ? raw : {};
  switch (r.kind) {
    case 'AuthorizationPolicy': return authorizationPolicy(r, s);
    case 'PeerAuthentication': return peerAuthentication(r, s);
    case 'RequestAuthentication': return requestAuthentication(r, s);
    default: return [];
  }
}
