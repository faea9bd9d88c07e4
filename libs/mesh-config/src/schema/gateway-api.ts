/**
 * Kubernetes Gateway API (gateway.networking.k8s.io) schema: every kind and version tsmesh reads is
 * checked with the JSON Schema validators of `@kubernetes-models/gateway-api` (generated from the
 * Gateway API CRDs: types, enums, ranges, patterns, required fields), then with the CRDs' CEL rules
 * that JSON Schema cannot state (`checkGatewayApiRules`).
 */
import { GatewayClass as GCv1, Gateway as GWv1, HTTPRoute as HRv1, GRPCRoute as GRv1, ReferenceGrant as RGv1 } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { GatewayClass as GCv1b1, Gateway as GWv1b1, HTTPRoute as HRv1b1, ReferenceGrant as RGv1b1 } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1';
import { TLSRoute as TRv1a2, TCPRoute as TCv1a2 } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2';
import { TLSRoute as TRv1a3 } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha3';
import { TLSRoute as TRv1 } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { modelProblems, type ModelClass } from './istio';
import type { SchemaProblem } from './dsl';
import { re2Error } from '../regex';

const VALIDATORS: Readonly<Record<string, ModelClass>> = {
  'gateway.networking.k8s.io/v1/GatewayClass': GCv1, 'gateway.networking.k8s.io/v1/Gateway': GWv1,
  'gateway.networking.k8s.io/v1/HTTPRoute': HRv1, 'gateway.networking.k8s.io/v1/GRPCRoute': GRv1,
  'gateway.networking.k8s.io/v1/ReferenceGrant': RGv1,
  'gateway.networking.k8s.io/v1beta1/GatewayClass': GCv1b1, 'gateway.networking.k8s.io/v1beta1/Gateway': GWv1b1,
  'gateway.networking.k8s.io/v1beta1/HTTPRoute': HRv1b1, 'gateway.networking.k8s.io/v1beta1/ReferenceGrant': RGv1b1,
  'gateway.networking.k8s.io/v1alpha2/TLSRoute': TRv1a2, 'gateway.networking.k8s.io/v1alpha3/TLSRoute': TRv1a3, 'gateway.networking.k8s.io/v1/TLSRoute': TRv1,
  'gateway.networking.k8s.io/v1alpha2/TCPRoute': TCv1a2,
};

/** Kinds (as `group/version/Kind`) the published Gateway API schema covers. */
export const GATEWAY_API_SCHEMA_KINDS: readonly string[] = Object.keys(VALIDATORS);

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Obj[]) : []);

/** The CRDs' CEL validation rules for Gateway and HTTPRoute that the JSON Schema does not carry. */
export function checkGatewayApiRules(obj: { kind?: string; spec?: unknown }, out: SchemaProblem[]): void {
  const spec = (obj.spec ?? {}) as Obj;
  if (obj.kind === 'Gateway') {
    const names = new Map<string, number>();
    list(spec.listeners).forEach((l, i) => {
      const at = `spec.listeners[${i}]`;
      if (typeof l.name === 'string') {
        const first = names.get(l.name);
        if (first !== undefined) out.push({ path: `${at}.name`, code: 'GATEWAY_LISTENER_DUPLICATE', reason: `listener name "${l.name}" is also used by spec.listeners[${first}]; listener names must be unique` });
        else names.set(l.name, i);
      }
      const protocol = l.protocol;
      if ((protocol === 'HTTPS' || protocol === 'TLS') && !l.tls) out.push({ path: `${at}.tls`, code: 'GATEWAY_LISTENER_TLS_REQUIRED', reason: `tls is required for protocol ${protocol}` });
      if ((protocol === 'HTTP' || protocol === 'TCP' || protocol === 'UDP') && l.tls) out.push({ path: `${at}.tls`, code: 'GATEWAY_LISTENER_TLS_FORBIDDEN', reason: `tls must not be set for protocol ${protocol}` });
      const tls = l.tls as Obj | undefined;
      if ((protocol === 'HTTPS' || protocol === 'TLS') && tls && (tls.mode ?? 'Terminate') === 'Terminate' && !list(tls.certificateRefs).length && !tls.options) {
        out.push({ path: `${at}.tls.certificateRefs`, code: 'GATEWAY_LISTENER_CERT_REQUIRED', reason: 'certificateRefs or options must be specified when mode is Terminate' });
      }
      if ((protocol === 'TCP' || protocol === 'UDP') && l.hostname !== undefined) out.push({ path: `${at}.hostname`, code: 'GATEWAY_LISTENER_HOSTNAME_FORBIDDEN', reason: `hostname must not be set for protocol ${protocol}` });
    });
  }
  if (obj.kind === 'TLSRoute' || obj.kind === 'TCPRoute') {
    list(spec.rules).forEach((rule, ri) => {
      list(rule.backendRefs).forEach((b, bi) => {
        // BackendObjectReference: "Must have port for Service reference".
        if ((b.kind ?? 'Service') === 'Service' && (b.group ?? '') === '' && b.port === undefined) {
          out.push({ path: `spec.rules[${ri}].backendRefs[${bi}].port`, code: 'ROUTE_BACKEND_PORT_REQUIRED', reason: 'port is required for a Service backendRef' });
        }
      });
    });
  }
  if (obj.kind === 'HTTPRoute') {
    list(spec.rules).forEach((rule, ri) => {
      list(rule.matches).forEach((m, mi) => {
        const at = `spec.rules[${ri}].matches[${mi}]`;
        const path = m.path as Obj | undefined;
        if (path && typeof path.value === 'string') {
          const type = path.type ?? 'PathPrefix';
          if (type === 'RegularExpression') {
            const err = re2Error(path.value);
            if (err) out.push({ path: `${at}.path.value`, code: 'HTTPROUTE_BAD_REGEX', reason: `"${path.value}" is not a valid RE2 regular expression: ${err}` });
          } else if (!path.value.startsWith('/')) {
            out.push({ path: `${at}.path.value`, code: 'HTTPROUTE_BAD_PATH', reason: `"${path.value}" must be an absolute path (start with "/")` });
          } else if (/\/\/|\/\.\.?(\/|$)|[#?]/.test(path.value)) {
            out.push({ path: `${at}.path.value`, code: 'HTTPROUTE_BAD_PATH', reason: `"${path.value}" must not contain "//", "/./", "/../", "?" or "#"` });
          }
        }
        for (const field of ['headers', 'queryParams'] as const) {
          list(m[field]).forEach((h, hi) => {
            if (h.type === 'RegularExpression' && typeof h.value === 'string') {
              const err = re2Error(h.value);
              if (err) out.push({ path: `${at}.${field}[${hi}].value`, code: 'HTTPROUTE_BAD_REGEX', reason: `"${h.value}" is not a valid RE2 regular expression: ${err}` });
            }
          });
        }
      });
      const filters = list(rule.filters);
      const types = filters.map((f) => f.type);
      if (types.includes('RequestRedirect') && types.includes('URLRewrite')) {
        out.push({ path: `spec.rules[${ri}].filters`, code: 'HTTPROUTE_REDIRECT_AND_REWRITE', reason: 'RequestRedirect and URLRewrite cannot both be set on one rule' });
      }
      for (const once of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite']) {
        if (types.filter((t) => t === once).length > 1) out.push({ path: `spec.rules[${ri}].filters`, code: 'HTTPROUTE_DUPLICATE_FILTER', reason: `${once} may appear only once per rule` });
      }
      if (types.includes('RequestRedirect') && list(rule.backendRefs).length) {
        out.push({ path: `spec.rules[${ri}].backendRefs`, code: 'HTTPROUTE_REDIRECT_WITH_BACKENDS', reason: 'a rule with a RequestRedirect filter must not have backendRefs' });
      }
    });
  }
}

/**
 * Checks a Gateway API object against the published schema for its version and the CRDs' CEL rules.
 * Returns no problems for kinds the schema does not cover.
 */
export function checkGatewayApiSchema(obj: { apiVersion?: string; kind?: string; spec?: unknown }, out: SchemaProblem[]): void {
  const model = VALIDATORS[`${obj.apiVersion}/${obj.kind}`];
  if (!model) return;
  const schema: SchemaProblem[] = [];
  modelProblems(model, obj, schema);
  const rules: SchemaProblem[] = [];
  checkGatewayApiRules(obj, rules);
  const ruled = new Set(rules.map((p) => p.path));
  out.push(...schema.filter((p) => !ruled.has(p.path)), ...rules);
}
