/**
 * Istio's published schema, not a hand-kept copy: every Istio kind and version is checked with the
 * JSON Schema validators of `@kubernetes-models/istio` (generated from Istio's CRDs: types, enums,
 * ranges, patterns, required fields, oneOf) and against the field tree generated from the same
 * package (`scripts/gen-istio-fields.mjs`), which finds unknown fields as Kubernetes' strict field
 * validation does. Fields added by Istio releases newer than the package's CRDs are in
 * `ISTIO_API_ADDITIONS`, each with the release that added it.
 */
import { VirtualService as VSv1, DestinationRule as DRv1, Gateway as GWv1, ServiceEntry as SEv1, Sidecar as SCv1, WorkloadEntry as WEv1, WorkloadGroup as WGv1 } from '@kubernetes-models/istio/networking.istio.io/v1';
import { VirtualService as VSv1b1, DestinationRule as DRv1b1, Gateway as GWv1b1, ServiceEntry as SEv1b1, Sidecar as SCv1b1, WorkloadEntry as WEv1b1, WorkloadGroup as WGv1b1, ProxyConfig as PCv1b1 } from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import { VirtualService as VSv1a3, DestinationRule as DRv1a3, Gateway as GWv1a3, ServiceEntry as SEv1a3, Sidecar as SCv1a3, WorkloadEntry as WEv1a3, WorkloadGroup as WGv1a3, EnvoyFilter as EFv1a3 } from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import { AuthorizationPolicy as APv1, PeerAuthentication as PAv1, RequestAuthentication as RAv1 } from '@kubernetes-models/istio/security.istio.io/v1';
import { AuthorizationPolicy as APv1b1, PeerAuthentication as PAv1b1, RequestAuthentication as RAv1b1 } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import { Telemetry as TMv1 } from '@kubernetes-models/istio/telemetry.istio.io/v1';
import { Telemetry as TMv1a1 } from '@kubernetes-models/istio/telemetry.istio.io/v1alpha1';
import { WasmPlugin as WPv1a1 } from '@kubernetes-models/istio/extensions.istio.io/v1alpha1';
import FIELDS from './istio-fields.gen.json';
import { suggest, type SchemaProblem } from './dsl';

type FieldNode = 0 | 1 | { f?: Record<string, number>; m?: number; l?: number };
const TREE = FIELDS as unknown as { package: string; nodes: FieldNode[]; roots: Record<string, number> };

/** The package (and so the Istio CRD release) the schema comes from. */
export const ISTIO_SCHEMA_SOURCE = TREE.package;

/** A `@kubernetes-models` class: its prototype's `validate` checks `this` against the published JSON Schema. */
export interface ModelClass { prototype: { validate(): void } }

const VALIDATORS: Readonly<Record<string, ModelClass>> = {
  'networking.istio.io/v1/VirtualService': VSv1, 'networking.istio.io/v1/DestinationRule': DRv1, 'networking.istio.io/v1/Gateway': GWv1,
  'networking.istio.io/v1/ServiceEntry': SEv1, 'networking.istio.io/v1/Sidecar': SCv1, 'networking.istio.io/v1/WorkloadEntry': WEv1,
  'networking.istio.io/v1/WorkloadGroup': WGv1,
  'networking.istio.io/v1beta1/VirtualService': VSv1b1, 'networking.istio.io/v1beta1/DestinationRule': DRv1b1, 'networking.istio.io/v1beta1/Gateway': GWv1b1,
  'networking.istio.io/v1beta1/ServiceEntry': SEv1b1, 'networking.istio.io/v1beta1/Sidecar': SCv1b1, 'networking.istio.io/v1beta1/WorkloadEntry': WEv1b1,
  'networking.istio.io/v1beta1/WorkloadGroup': WGv1b1, 'networking.istio.io/v1beta1/ProxyConfig': PCv1b1,
  'networking.istio.io/v1alpha3/VirtualService': VSv1a3, 'networking.istio.io/v1alpha3/DestinationRule': DRv1a3, 'networking.istio.io/v1alpha3/Gateway': GWv1a3,
  'networking.istio.io/v1alpha3/ServiceEntry': SEv1a3, 'networking.istio.io/v1alpha3/Sidecar': SCv1a3, 'networking.istio.io/v1alpha3/WorkloadEntry': WEv1a3,
  'networking.istio.io/v1alpha3/WorkloadGroup': WGv1a3, 'networking.istio.io/v1alpha3/EnvoyFilter': EFv1a3,
  'security.istio.io/v1/AuthorizationPolicy': APv1, 'security.istio.io/v1/PeerAuthentication': PAv1, 'security.istio.io/v1/RequestAuthentication': RAv1,
  'security.istio.io/v1beta1/AuthorizationPolicy': APv1b1, 'security.istio.io/v1beta1/PeerAuthentication': PAv1b1, 'security.istio.io/v1beta1/RequestAuthentication': RAv1b1,
  'telemetry.istio.io/v1/Telemetry': TMv1, 'telemetry.istio.io/v1alpha1/Telemetry': TMv1a1,
  'extensions.istio.io/v1alpha1/WasmPlugin': WPv1a1,
};

/**
 * Fields of Istio's API added after the CRD release the package carries (Istio 1.29), as
 * `kind` → field paths (`[]` a list item). Named in the Istio 1.31 release announcement.
 */
export const ISTIO_API_ADDITIONS: Readonly<Record<string, readonly string[]>> = {
  AuthorizationPolicy: ['spec.rules[].from[].source.trustDomains', 'spec.rules[].from[].source.notTrustDomains'],
  DestinationRule: [
    'spec.trafficPolicy.loadBalancer.zoneAwareLbSetting', 'spec.trafficPolicy.portLevelSettings[].loadBalancer.zoneAwareLbSetting',
    'spec.subsets[].trafficPolicy.loadBalancer.zoneAwareLbSetting', 'spec.subsets[].trafficPolicy.portLevelSettings[].loadBalancer.zoneAwareLbSetting',
    'spec.trafficPolicy.connectionPool.http.http2KeepAlive', 'spec.trafficPolicy.portLevelSettings[].connectionPool.http.http2KeepAlive',
    'spec.subsets[].trafficPolicy.connectionPool.http.http2KeepAlive', 'spec.subsets[].trafficPolicy.portLevelSettings[].connectionPool.http.http2KeepAlive',
    'spec.trafficPolicy.retryBudget.budgetInterval', 'spec.subsets[].trafficPolicy.retryBudget.budgetInterval',
  ],
  VirtualService: ['spec.http[].redirect.prefixRewrite'],
};
/**
 * Fields that hold a `google.protobuf.Struct`: free-form in Istio's schema, checked elsewhere
 * (an EnvoyFilter's patch value is checked against Envoy's messages by `checkEnvoyFilter`).
 */
const FREE_FORM = new Set(['EnvoyFilter:spec.configPatches[].patch.value']);

const additions = new Map<string, Set<string>>();
for (const [kind, paths] of Object.entries(ISTIO_API_ADDITIONS)) {
  for (const p of paths) {
    const cut = p.lastIndexOf('.');
    const key = `${kind}:${p.slice(0, cut)}`;
    let s = additions.get(key);
    if (!s) additions.set(key, (s = new Set()));
    s.add(p.slice(cut + 1));
  }
}

/** True when Istio's published schema covers `group/version` `kind`. */
export function hasIstioSchema(apiVersion: string, kind: string): boolean {
  return Object.hasOwn(VALIDATORS, `${apiVersion}/${kind}`);
}

/** Kinds (as `group/version/Kind`) the published schema covers. */
export const ISTIO_SCHEMA_KINDS: readonly string[] = Object.keys(VALIDATORS);

interface AjvError { instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }

function pathOf(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out ? `.${seg}` : seg;
  }
  return out;
}

function describe(e: AjvError, value: unknown): { code: string; reason: string } {
  const shown = value === undefined ? '' : typeof value === 'object' ? (Array.isArray(value) ? 'a list' : 'a mapping') : JSON.stringify(value);
  switch (e.keyword) {
    case 'type': return { code: 'SCHEMA_TYPE', reason: `expected ${String(e.params.type)}, got ${shown || 'nothing'}` };
    case 'enum': return { code: 'SCHEMA_ENUM', reason: `${shown} is not one of ${(e.params.allowedValues as unknown[]).join(', ')}` };
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return { code: 'SCHEMA_RANGE', reason: `${shown} must be ${e.params.comparison} ${String(e.params.limit)}` };
    case 'required': return { code: 'SCHEMA_REQUIRED', reason: `${String(e.params.missingProperty)} is required` };
    case 'minItems': case 'maxItems': case 'minProperties': case 'maxProperties': case 'minLength': case 'maxLength':
      return { code: 'SCHEMA_RANGE', reason: `${e.keyword} is ${String(e.params.limit)}` };
    case 'oneOf': case 'anyOf': case 'not':
      return { code: 'SCHEMA_ONEOF', reason: 'only one of its alternative fields may be set' };
    case 'pattern': return { code: 'SCHEMA_FORMAT', reason: `${shown} does not match ${String(e.params.pattern)}` };
    case 'format': return { code: 'SCHEMA_FORMAT', reason: `${shown} is not a valid ${String(e.params.format)}` };
    default: return { code: 'SCHEMA_INVALID', reason: e.message ?? e.keyword };
  }
}

function valueAt(obj: unknown, pointer: string): unknown {
  let v = obj;
  for (const raw of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

function unknownFields(kind: string, node: FieldNode, value: unknown, path: string, generic: string, out: SchemaProblem[]): void {
  if (node === 0 || node === 1 || value === null || typeof value !== 'object') return;
  if (FREE_FORM.has(`${kind}:${generic}`)) return;
  if (Array.isArray(value)) {
    if (node.l === undefined) return;
    value.forEach((v, i) => unknownFields(kind, TREE.nodes[node.l!], v, `${path}[${i}]`, `${generic}[]`, out));
    return;
  }
  if (!node.f) return;
  const extra = additions.get(`${kind}:${generic}`);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = path ? `${path}.${k}` : k;
    const g = generic ? `${generic}.${k}` : k;
    const id = node.f[k];
    if (id !== undefined) unknownFields(kind, TREE.nodes[id], v, p, g, out);
    else if (node.m !== undefined) unknownFields(kind, TREE.nodes[node.m], v, p, `${generic}.*`, out);
    else if (!extra?.has(k)) out.push({ path: p, code: 'SCHEMA_UNKNOWN_FIELD', reason: `unknown field "${k}"${suggest(k, Object.keys(node.f))}` });
  }
}

/**
 * Checks an Istio object (apiVersion, kind, metadata, spec) against Istio's published schema for
 * its version. Returns no problems for kinds the schema does not cover.
 */
export function checkIstioSchema(obj: { apiVersion?: string; kind?: string }, out: SchemaProblem[]): void {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const model = VALIDATORS[key];
  const root = TREE.roots[key];
  if (!model || root === undefined) return;
  unknownFields(obj.kind!, TREE.nodes[root], obj, '', '', out);
  modelProblems(model, obj, out);
}

/** Runs a `@kubernetes-models` validator on `obj` and reports its findings as schema problems. */
export function modelProblems(model: ModelClass, obj: object, out: SchemaProblem[]): void {
  try {
    model.prototype.validate.call(obj);
  } catch (err) {
    const errors = (err as { errors?: AjvError[] }).errors;
    if (!errors) throw err;
    const seen = new Set<string>();
    for (const e of errors) {
      // Alternatives of a oneOf each report why they failed; the oneOf error itself says enough.
      if (e.keyword === 'if') continue;
      let p = pathOf(e.instancePath);
      const d = describe(e, valueAt(obj, e.instancePath));
      if (e.keyword === 'required') p = p ? `${p}.${String(e.params.missingProperty)}` : String(e.params.missingProperty);
      const k = `${p}|${d.code}|${d.reason}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push({ path: p, code: d.code, reason: d.reason });
    }
  }
}
