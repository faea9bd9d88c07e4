/**
 * Istio's validation rules that JSON Schema cannot express: the CEL rules of Istio's CRDs
 * (`x-kubernetes-validations`, which the package's JSON Schema validators do not run) and the checks
 * of Istio's validation webhook for ServiceEntry and DestinationRule, and the workload selectors and
 * target-reference kinds shared by the security kinds (the meaning of security values is ./security.ts). Each problem names its field.
 */
import { isIP } from 'node:net';
import type { SchemaProblem } from '../schema/dsl';
import { parseDurationMs } from '../schema/dsl';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strs = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');

/** Protobuf `Duration` fields of Istio's networking and security API (they take Go durations: `1.5s`, `100ms`, `1h2m`). */
const DURATION_FIELDS = new Set([
  'timeout', 'perTryTimeout', 'fixedDelay', 'exponentialDelay', 'interval', 'baseEjectionTime', 'connectTimeout', 'idleTimeout',
  'maxConnectionDuration', 'time', 'maxAge', 'ttl', 'backoff', 'duration', 'budgetInterval', 'drainDuration',
]);
const DURATION_KINDS = new Set(['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar', 'RequestAuthentication']);

function durations(v: unknown, path: string, out: SchemaProblem[]): void {
  if (Array.isArray(v)) return v.forEach((x, i) => durations(x, `${path}[${i}]`, out));
  if (!isObj(v)) return;
  for (const [k, x] of Object.entries(v)) {
    const p = `${path}.${k}`;
    if (DURATION_FIELDS.has(k) && (typeof x === 'string' || typeof x === 'number')) {
      const ms = typeof x === 'string' ? parseDurationMs(x) : Number.NaN;
      if (Number.isNaN(ms)) out.push({ path: p, code: 'SCHEMA_FORMAT', reason: `${JSON.stringify(x)} is not a duration such as "5s" or "100ms"` });
      else if (ms > 0 && ms < 1) out.push({ path: p, code: 'SCHEMA_RANGE', reason: `${x} must be a valid duration greater than 1ms` });
    } else durations(x, p, out);
  }
}

function labelSelector(labels: unknown, path: string, out: SchemaProblem[]): void {
  if (!isObj(labels)) return;
  for (const [k, v] of Object.entries(labels)) {
    if (!k) out.push({ path, code: 'SCHEMA_RULE', reason: 'a label key must not be empty' });
    if (k.includes('*')) out.push({ path: `${path}.${k}`, code: 'SCHEMA_RULE', reason: 'wildcard not allowed in label key match' });
    if (typeof v === 'string' && v.includes('*')) out.push({ path: `${path}.${k}`, code: 'SCHEMA_RULE', reason: 'wildcard not allowed in label value match' });
  }
}

const TARGET_KINDS = new Set(['/Service', 'core/Service', 'networking.istio.io/ServiceEntry', 'gateway.networking.k8s.io/Gateway', 'gateway.networking.k8s.io/GatewayClass']);

function targetRef(t: unknown, path: string, ownNamespace: string, out: SchemaProblem[]): void {
  if (!isObj(t)) return;
  const gk = `${typeof t.group === 'string' ? t.group : ''}/${String(t.kind ?? '')}`;
  if (!TARGET_KINDS.has(gk)) out.push({ path: `${path}.kind`, code: 'SCHEMA_RULE', reason: `target kind ${gk} is not one of Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway or GatewayClass` });
  if (typeof t.namespace === 'string' && t.namespace && t.namespace !== ownNamespace) out.push({ path: `${path}.namespace`, code: 'SCHEMA_RULE', reason: 'cross namespace referencing is not currently supported' });
}

function securityCommon(spec: Obj, namespace: string, out: SchemaProblem[]): void {
  const sel = isObj(spec.selector) ? spec.selector : undefined;
  labelSelector(sel?.matchLabels, 'spec.selector.matchLabels', out);
  // selector / targetRef / targetRefs exclusivity: ./security.ts.
  targetRef(spec.targetRef, 'spec.targetRef', namespace, out);
  arr(spec.targetRefs).forEach((t, i) => targetRef(t, `spec.targetRefs[${i}]`, namespace, out));
}

function isCidr(a: string): boolean {
  const slash = a.indexOf('/');
  if (slash < 0) return false;
  const ip = a.slice(0, slash);
  const bits = Number(a.slice(slash + 1));
  const v = isIP(ip);
  return v !== 0 && Number.isInteger(bits) && bits >= 0 && bits <= (v === 4 ? 32 : 128) && /^\d+$/.test(a.slice(slash + 1));
}


function serviceEntry(spec: Obj, out: SchemaProblem[]): void {
  const resolution = typeof spec.resolution === 'string' ? spec.resolution : 'NONE';
  const endpoints = arr(spec.endpoints);
  strs(spec.hosts).forEach((h, i) => {
    if (h === '*') out.push({ path: `spec.hosts[${i}]`, code: 'SCHEMA_RULE', reason: 'hostname cannot be wildcard' });
    if (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') {
      if (h.startsWith('*') && endpoints.length === 0) out.push({ path: `spec.hosts[${i}]`, code: 'SCHEMA_RULE', reason: `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}` });
    }
  });
  strs(spec.addresses).forEach((a, i) => {
    const cidr = isCidr(a);
    if (!cidr && isIP(a) === 0) out.push({ path: `spec.addresses[${i}]`, code: 'SCHEMA_RULE', reason: `"${a}" is not an IP address or CIDR block` });
    if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') out.push({ path: `spec.addresses[${i}]`, code: 'SCHEMA_RULE', reason: 'CIDR addresses are allowed only for NONE/STATIC resolution types' });
  });
  if (spec.workloadSelector && endpoints.length) out.push({ path: 'spec', code: 'SCHEMA_RULE', reason: 'only one of WorkloadSelector or Endpoints can be set' });
  if (resolution === 'NONE' && endpoints.length) out.push({ path: 'spec.endpoints', code: 'SCHEMA_RULE', reason: 'NONE mode cannot set endpoints' });
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) out.push({ path: 'spec.endpoints', code: 'SCHEMA_RULE', reason: 'DNS_ROUND_ROBIN mode cannot have multiple endpoints' });
  if (resolution === 'STATIC' && !endpoints.length && !spec.workloadSelector) out.push({ path: 'spec.endpoints', code: 'SE_STATIC_NO_ENDPOINTS', reason: 'resolution STATIC needs endpoints or a workloadSelector' });
  labelSelector(isObj(spec.workloadSelector) ? spec.workloadSelector.labels : undefined, 'spec.workloadSelector.labels', out);
  const names = new Map<string, number>();
  const ports = arr(spec.ports);
  ports.forEach((p, i) => {
    if (!isObj(p)) return;
    for (const f of ['number', 'targetPort'] as const) {
      const n = p[f];
      if (typeof n === 'number' && (n < 1 || n > 65535)) out.push({ path: `spec.ports[${i}].${f}`, code: 'SCHEMA_RANGE', reason: `port ${n} must be between 1-65535` });
    }
  });
  ports.forEach((p, i) => {
    if (!isObj(p) || typeof p.name !== 'string') return;
    if (names.has(p.name)) out.push({ path: `spec.ports[${i}].name`, code: 'SCHEMA_RULE', reason: `port name "${p.name}" must be unique (also spec.ports[${names.get(p.name)}])` });
    else names.set(p.name, i);
  });
  endpoints.forEach((e, i) => {
    if (!isObj(e)) return;
    const at = `spec.endpoints[${i}]`;
    const addr = typeof e.address === 'string' ? e.address : '';
    if (addr.startsWith('unix://')) {
      const path = addr.slice('unix://'.length);
      if (!path.startsWith('/') && !path.startsWith('@')) out.push({ path: `${at}.address`, code: 'SCHEMA_RULE', reason: 'UDS must be an absolute path or abstract socket' });
      if (isObj(e.ports) && Object.keys(e.ports).length) out.push({ path: `${at}.ports`, code: 'SCHEMA_RULE', reason: 'UDS may not include ports' });
    } else if (resolution === 'STATIC') {
      if (!addr) out.push({ path: `${at}.address`, code: 'SCHEMA_REQUIRED', reason: 'address is required with resolution STATIC' });
      else if (isIP(addr) === 0) out.push({ path: `${at}.address`, code: 'SCHEMA_RULE', reason: `"${addr}" is not an IP address (resolution STATIC)` });
    } else if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && addr && isIP(addr) === 0 && !/^[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?$/.test(addr)) {
      out.push({ path: `${at}.address`, code: 'SCHEMA_RULE', reason: `"${addr}" is not a DNS name or IP address` });
    }
    for (const name of Object.keys(isObj(e.ports) ? e.ports : {})) {
      if (ports.length && !names.has(name)) out.push({ path: `${at}.ports.${name}`, code: 'SCHEMA_RULE', reason: `port "${name}" is not a port of the ServiceEntry` });
    }
  });
}


function authorizationPolicy(spec: Obj, out: SchemaProblem[]): void {
  arr(spec.rules).forEach((rule, i) => {
    if (!isObj(rule)) return;
    arr(rule.from).forEach((f, j) => {
      const src = isObj(f) && isObj(f.source) ? f.source : undefined;
      if (!src) return;
      const at = `spec.rules[${i}].from[${j}].source`;
      if (strs(src.principals).length && strs(src.serviceAccounts).length) out.push({ path: at, code: 'SCHEMA_RULE', reason: 'only one of principals or serviceAccounts can be set' });
      if (strs(src.notPrincipals).length && strs(src.notServiceAccounts).length) out.push({ path: at, code: 'SCHEMA_RULE', reason: 'only one of notPrincipals or notServiceAccounts can be set' });
      for (const k of ['serviceAccounts', 'notServiceAccounts'] as const) {
        strs(src[k]).forEach((sa, n) => {
          if (!/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(sa)) out.push({ path: `${at}.${k}[${n}]`, code: 'SCHEMA_RULE', reason: `"${sa}" is not a service account ("name" or "namespace/name")` });
        });
      }
      // IP blocks and empty values: ./security.ts.
    });
  });
}

function trafficPolicies(spec: Obj): [string, Obj][] {
  const out: [string, Obj][] = [];
  const add = (at: string, tp: unknown) => {
    if (!isObj(tp)) return;
    out.push([at, tp]);
    arr(tp.portLevelSettings).forEach((p, i) => { if (isObj(p)) out.push([`${at}.portLevelSettings[${i}]`, p]); });
  };
  add('spec.trafficPolicy', spec.trafficPolicy);
  arr(spec.subsets).forEach((s, i) => { if (isObj(s)) add(`spec.subsets[${i}].trafficPolicy`, s.trafficPolicy); });
  return out;
}

function destinationRule(spec: Obj, out: SchemaProblem[]): void {
  for (const [at, tp] of trafficPolicies(spec)) {
    const od = isObj(tp.outlierDetection) ? tp.outlierDetection : undefined;
    for (const f of ['maxEjectionPercent', 'minHealthPercent'] as const) {
      const v = od?.[f];
      if (typeof v === 'number' && (v < 0 || v > 100)) out.push({ path: `${at}.outlierDetection.${f}`, code: 'SCHEMA_RANGE', reason: `${v} must be in range [0..100]` });
    }
  }
}

/** Problems of one Istio object that its CRD's CEL rules or Istio's validation webhook find. */
export function checkIstioRules(kind: string, obj: unknown, namespace: string, out: SchemaProblem[]): void {
  const spec = isObj(obj) && isObj(obj.spec) ? obj.spec : undefined;
  if (!spec) return;
  if (DURATION_KINDS.has(kind)) durations(spec, 'spec', out);
  switch (kind) {
    case 'ServiceEntry': serviceEntry(spec, out); break;
    case 'RequestAuthentication':
      securityCommon(spec, namespace, out);
      arr(spec.jwtRules).forEach((j, i) => {
        if (isObj(j) && (typeof j.issuer !== 'string' || !j.issuer)) out.push({ path: `spec.jwtRules[${i}].issuer`, code: 'SCHEMA_REQUIRED', reason: 'issuer is required' });
      });
      break;
    case 'AuthorizationPolicy': securityCommon(spec, namespace, out); authorizationPolicy(spec, out); break;
    case 'PeerAuthentication': labelSelector(isObj(spec.selector) ? spec.selector.matchLabels : undefined, 'spec.selector.matchLabels', out); break;
    case 'Sidecar': labelSelector(isObj(spec.workloadSelector) ? spec.workloadSelector.labels : undefined, 'spec.workloadSelector.labels', out); break;
    case 'DestinationRule': destinationRule(spec, out); labelSelector(isObj(spec.workloadSelector) ? spec.workloadSelector.matchLabels : undefined, 'spec.workloadSelector.matchLabels', out); break;
    default: break;
  }
}
