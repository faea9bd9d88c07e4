/**
 * Offline analysis of a config set, as `istioctl analyze` does it: validation problems become
 * istioctl's messages (IST0106 schema errors, IST0101 missing references, IST0145 conflicting
 * gateways), and analyzers look across resources for what validation accepts but is likely wrong.
 * Every resource of a kind tsmesh does not read is listed as not analysed (TSM0001).
 */
import { validateConfig, type ValidateOptions, type ValidationResult } from '../validate/validate';
import { checkIstioSchema, hasIstioSchema } from '../schema/istio';
import { fieldLine, resourceLabel, type ConfigResource } from '../resource';
import type { ConfigIssue } from '../issues';
import type { UnreadObject } from '../yaml';
import { DEFAULT_DOMAIN, hostMatches, resolveGatewayRef, resolveHost, splitNamespacedHost } from '../hosts';
import type {
  AuthorizationPolicySpec, DestinationRuleSpec, GatewaySpec, HTTPMatchRequest, ServiceEntrySpec, SidecarSpec, TrafficPolicy, VirtualServiceSpec,
} from '../types/istio';
import type { KubeObject } from '../types/meta';
import { MESSAGES, type Level, type MessageType } from './messages';
import { gatewayApiStatus, type Condition } from './gateway-api-status';
import type { WrittenStatus } from '../gateway-api/status';

type WrittenCondition = { type: string; status: string; reason: string };
const conditionText = (cs: unknown) => ((cs ?? []) as WrittenCondition[]).map((c) => `${c.type}=${c.status} ${c.reason}`).join(', ');

/** One line per part of a written Gateway API status (conditions, address, listeners, route parents). */
export function describeWrittenStatus(s: WrittenStatus): string {
  const st = s.status as { conditions?: unknown; addresses?: { value: string }[]; listeners?: { name: string; attachedRoutes?: number; conditions?: unknown }[]; parents?: { parentRef: { kind?: string; namespace?: string; name: string; sectionName?: string }; conditions?: unknown }[] };
  const parts: string[] = [];
  if (st.conditions) parts.push(conditionText(st.conditions));
  if (st.addresses?.length) parts.push(`addresses ${st.addresses.map((a) => a.value).join(', ')}`);
  for (const l of st.listeners ?? []) parts.push(`listener ${l.name}: ${l.attachedRoutes ?? 0} route(s), ${conditionText(l.conditions)}`);
  for (const p of st.parents ?? []) parts.push(`parent ${p.parentRef.kind ?? 'Gateway'} ${p.parentRef.namespace ? `${p.parentRef.namespace}/` : ''}${p.parentRef.name}${p.parentRef.sectionName ? `/${p.parentRef.sectionName}` : ''}: ${conditionText(p.conditions)}`);
  return parts.join('; ');
}

/** One analysis message, shaped as istioctl prints it. */
export interface AnalysisMessage {
  code: string;
  name: string;
  level: Level;
  message: string;
  /** `Kind namespace/name`. */
  origin: string;
  /** `file:line` of the resource or field, when known. */
  reference: string;
  /** Field path, when the message is about one field. */
  field?: string;
}

/** What `analyzeConfig` needs besides the resources it reads. */
export interface AnalyzeInput {
  resources: readonly ConfigResource[];
  /** Documents of kinds tsmesh does not read. */
  unread?: readonly UnreadObject[];
  options?: ValidateOptions;
  /** Statuses the control plane wrote (status files beside the config files), shown per resource. */
  statuses?: readonly WrittenStatus[];
}

/** Messages, in input order, and the validation result they came from. */
export interface AnalysisReport {
  messages: AnalysisMessage[];
  validation: ValidationResult;
}

type Analyzer = (ctx: Context) => void;

interface Context {
  resources: readonly ConfigResource[];
  domain: string;
  pods: { namespace: string; name: string; labels: Record<string, string> }[];
  /** Pods were in the input (workload checks need them). */
  havePods: boolean;
  namespaces: Set<string>;
  report(type: MessageType, r: ConfigResource, message: string, field?: string): void;
}

const spec = <T>(r: ConfigResource): T => ((r.object as KubeObject<T>).spec ?? {}) as T;
const labelsOf = (sel?: Record<string, string>) => Object.entries(sel ?? {}).map(([k, v]) => `${k}=${v}`).sort().join(',');
const selects = (sel: Record<string, string> | undefined, labels: Record<string, string>) => !!sel && Object.entries(sel).every(([k, v]) => labels[k] === v);

function reference(file: string, line?: number): string {
  return line ? `${file}:${line}` : file;
}

/** Maps a validation issue to the istioctl message it is. */
function fromIssue(i: ConfigIssue): AnalysisMessage {
  const base = { origin: i.resource, reference: reference(i.file, i.line), field: i.field || undefined };
  const m = /"([^"]*)"/.exec(i.reason);
  const quoted = m ? m[1] : '';
  switch (i.code) {
    case 'VS_UNKNOWN_HOST':
      return { ...MESSAGES.ReferencedResourceNotFound, ...base, message: `Referenced host not found: "${quoted}"` };
    case 'VS_UNKNOWN_SUBSET': {
      const subset = /subset "([^"]*)"/.exec(i.reason)?.[1] ?? '';
      return { ...MESSAGES.ReferencedResourceNotFound, ...base, message: `Referenced host+subset in destinationrule not found: "${quoted}+${subset}"` };
    }
    case 'VS_UNKNOWN_GATEWAY':
      return { ...MESSAGES.ReferencedResourceNotFound, ...base, message: `Referenced gateway not found: "${quoted}"` };
    case 'GW_SECRET_NOT_FOUND':
      return { ...MESSAGES.ReferencedResourceNotFound, ...base, message: `Referenced credentialName not found: "${quoted}"` };
    case 'GW_CONFLICT': {
      const g = /port (\d+) host "([^"]*)" is also served by Gateway (\S+) .*on the same workloads \(([^)]*)\)/.exec(i.reason);
      const message = g ? `Conflict with gateways ${g[3]} (workload selector ${g[4]}, port ${g[1]}, hosts ${g[2]}).` : i.reason;
      return { ...MESSAGES.ConflictingGateways, ...base, message };
    }
    default:
      if (i.code.startsWith('EF_')) return { ...MESSAGES.EnvoyFilterUnsupported, ...base, level: i.severity === 'error' ? 'Error' : 'Warning', message: `${i.field ? `${i.field}: ` : ''}${i.reason}` };
      if (i.severity === 'error') return { ...MESSAGES.SchemaValidationError, ...base, message: `Schema validation error: ${i.field ? `${i.field}: ` : ''}${i.reason}` };
      return { ...MESSAGES.SchemaWarning, ...base, message: `Schema validation warning: ${i.field ? `${i.field}: ` : ''}${i.reason}` };
  }
}

/** Gateway selectors that select no Pod of the input (IST0101). */
const gatewaySelectors: Analyzer = (ctx) => {
  if (!ctx.havePods) return;
  for (const g of ctx.resources) {
    if (g.kind !== 'Gateway') continue;
    const sel = spec<GatewaySpec>(g).selector;
    if (!sel || !Object.keys(sel).length) continue;
    if (!ctx.pods.some((p) => selects(sel, p.labels))) ctx.report(MESSAGES.ReferencedResourceNotFound, g, `Referenced selector not found: "${labelsOf(sel)}"`, 'spec.selector');
  }
};

/** VirtualService hosts that no server of its Gateway serves (IST0132). */
const hostsInGateway: Analyzer = (ctx) => {
  const gateways = new Map(ctx.resources.filter((r) => r.kind === 'Gateway').map((g) => [`${g.namespace}/${g.name}`, g]));
  for (const vs of ctx.resources) {
    if (vs.kind !== 'VirtualService') continue;
    const s = spec<VirtualServiceSpec>(vs);
    for (const ref of s.gateways ?? []) {
      const key = resolveGatewayRef(ref, vs.namespace);
      const g = gateways.get(key);
      if (!g) continue;
      const served = (spec<GatewaySpec>(g).servers ?? []).flatMap((srv) => (srv.hosts ?? []).map((h) => splitNamespacedHost(h, g.namespace)))
        .filter((h) => h.namespace === '*' || h.namespace === vs.namespace);
      const missing = (s.hosts ?? []).filter((h) => !served.some((x) => hostMatches(x.host, h) || hostMatches(h, x.host)));
      if (missing.length) ctx.report(MESSAGES.VirtualServiceHostNotFoundInGateway, vs, `one or more host [${missing.join(' ')}] defined in VirtualService ${vs.namespace}/${vs.name} not found in Gateway ${key}.`, 'spec.hosts');
    }
  }
};

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

function matchKey(m: HTTPMatchRequest): string {
  const { name: _name, ...rest } = m;
  return canonical(rest);
}

/** HTTP rules after a catch-all (IST0130) and matches a previous rule already has (IST0131). */
const unreachableRules: Analyzer = (ctx) => {
  for (const vs of ctx.resources) {
    if (vs.kind !== 'VirtualService') continue;
    const http = spec<VirtualServiceSpec>(vs).http ?? [];
    const seen = new Map<string, number>();
    let catchAll = -1;
    http.forEach((h, i) => {
      const label = h.name ? `"${h.name}"` : `#${i}`;
      if (catchAll >= 0) {
        ctx.report(MESSAGES.VirtualServiceUnreachableRule, vs, `VirtualService rule ${label} not used (only the last rule can have no matches).`, `spec.http[${i}]`);
        return;
      }
      const matches = h.match ?? [];
      if (!matches.length) { catchAll = i; return; }
      let unused = 0;
      matches.forEach((m, j) => {
        const k = matchKey(m);
        const prev = seen.get(k);
        if (prev !== undefined) {
          unused++;
          const prevRule = http[prev];
          ctx.report(MESSAGES.VirtualServiceIneffectiveMatch, vs, `VirtualService rule ${label} match #${j} is not used (duplicate/overlapping match in rule ${prevRule.name ? `"${prevRule.name}"` : `#${prev}`}).`, `spec.http[${i}].match[${j}]`);
        } else seen.set(k, i);
      });
      if (unused === matches.length) ctx.report(MESSAGES.VirtualServiceUnreachableRule, vs, `VirtualService rule ${label} not used (all matches used by prior rules).`, `spec.http[${i}]`);
    });
  }
};

/** Sidecars: several without a selector in one namespace (IST0111), several selecting one Pod (IST0110). */
const sidecarSelectors: Analyzer = (ctx) => {
  const byNs = new Map<string, ConfigResource[]>();
  for (const r of ctx.resources) if (r.kind === 'Sidecar') byNs.set(r.namespace, [...(byNs.get(r.namespace) ?? []), r]);
  for (const [ns, list] of byNs) {
    const bare = list.filter((r) => !spec<SidecarSpec>(r).workloadSelector?.labels);
    if (bare.length > 1) for (const r of bare) ctx.report(MESSAGES.MultipleSidecarsWithoutWorkloadSelectors, r, `The Sidecars [${bare.map((x) => `${x.namespace}/${x.name}`).join(' ')}] in namespace "${ns}" have no workload selector, which can lead to undefined behavior.`);
    for (const p of ctx.pods.filter((x) => x.namespace === ns)) {
      const hit = list.filter((r) => selects(spec<SidecarSpec>(r).workloadSelector?.labels, p.labels));
      if (hit.length > 1) for (const r of hit) ctx.report(MESSAGES.ConflictingSidecarWorkloadSelectors, r, `The Sidecars [${hit.map((x) => `${x.namespace}/${x.name}`).join(' ')}] in namespace "${ns}" select the same workload pod "${p.name}", which can lead to undefined behavior.`, 'spec.workloadSelector');
    }
  }
};

/** AuthorizationPolicies naming namespaces that do not exist (IST0101) or selecting no Pod (IST0127). */
const authorizationPolicies: Analyzer = (ctx) => {
  for (const r of ctx.resources) {
    if (r.kind !== 'AuthorizationPolicy') continue;
    const s = spec<AuthorizationPolicySpec>(r);
    (s.rules ?? []).forEach((rule, i) => (rule.from ?? []).forEach((f, j) => {
      for (const k of ['namespaces', 'notNamespaces'] as const) {
        (f.source?.[k] ?? []).forEach((ns, n) => {
          if (ns.includes('*') || ctx.namespaces.has(ns)) return;
          ctx.report(MESSAGES.ReferencedResourceNotFound, r, `Referenced namespace not found: "${ns}"`, `spec.rules[${i}].from[${j}].source.${k}[${n}]`);
        });
      }
    }));
    const sel = s.selector?.matchLabels;
    if (ctx.havePods && sel && Object.keys(sel).length && !ctx.pods.some((p) => p.namespace === r.namespace && selects(sel, p.labels))) {
      ctx.report(MESSAGES.NoMatchingWorkloadsFound, r, `No matching workloads for this resource with the following labels: ${labelsOf(sel)}`, 'spec.selector');
    }
  }
};

/** ServiceEntries giving one host and port different protocols. */
const serviceEntryProtocols: Analyzer = (ctx) => {
  const index = new Map<string, { protocol: string; r: ConfigResource }[]>();
  for (const r of ctx.resources) {
    if (r.kind !== 'ServiceEntry') continue;
    const s = spec<ServiceEntrySpec>(r);
    for (const h of s.hosts ?? []) for (const p of s.ports ?? []) {
      const k = `${h}|${p.number}`;
      index.set(k, [...(index.get(k) ?? []), { protocol: (p.protocol ?? '').toUpperCase(), r }]);
    }
  }
  const reported = new Set<string>();
  for (const [k, entries] of index) {
    const protocols = [...new Set(entries.map((e) => e.protocol))].sort();
    if (protocols.length < 2) continue;
    const [host, port] = k.split('|');
    const names = [...new Set(entries.map((e) => `${e.r.namespace}/${e.r.name}`))].sort();
    for (const e of entries) {
      if (reported.has(e.r.key)) continue;
      reported.add(e.r.key);
      ctx.report(MESSAGES.ConflictingServiceEntryProtocol, e.r, `ServiceEntries [${names.join(', ')}] define host ${host} port ${port} with different protocols: ${protocols.join(', ')}`, 'spec.ports');
    }
  }
};

/** DestinationRule subsets that select no Pod of the host's Service (IST0127). */
const subsetsWithoutPods: Analyzer = (ctx) => {
  if (!ctx.havePods) return;
  const services = new Map<string, { namespace: string; selector?: Record<string, string> }>();
  for (const r of ctx.resources) {
    if (r.kind === 'Service') services.set(`${r.name}.${r.namespace}.svc.${ctx.domain}`, { namespace: r.namespace, selector: (r.object as { spec?: { selector?: Record<string, string> } }).spec?.selector });
  }
  for (const r of ctx.resources) {
    if (r.kind !== 'DestinationRule') continue;
    const s = spec<DestinationRuleSpec>(r);
    const svc = services.get(resolveHost(s.host, r.namespace, ctx.domain));
    if (!svc?.selector) continue;
    (s.subsets ?? []).forEach((sub, i) => {
      const want = { ...svc.selector, ...sub.labels };
      if (!ctx.pods.some((p) => p.namespace === svc.namespace && selects(want, p.labels))) {
        ctx.report(MESSAGES.NoMatchingWorkloadsFound, r, `No matching workloads for this resource with the following labels: ${labelsOf(want)}`, `spec.subsets[${i}].labels`);
      }
    });
  }
};

/** Client TLS (SIMPLE or MUTUAL) that verifies nothing because no CA is given (IST0128, IST0129). */
const tlsWithoutCa: Analyzer = (ctx) => {
  for (const r of ctx.resources) {
    if (r.kind !== 'DestinationRule') continue;
    const s = spec<DestinationRuleSpec>(r);
    const noCa = (tp?: TrafficPolicy) => {
      const tls = tp?.tls;
      return !!tls && (tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL') && !tls.caCertificates && !tls.credentialName && !tls.insecureSkipVerify;
    };
    if (noCa(s.trafficPolicy)) {
      ctx.report(MESSAGES.NoServerCertificateVerificationDestinationLevel, r, `DestinationRule ${r.name} in namespace ${r.namespace} has TLS mode set to ${s.trafficPolicy!.tls!.mode} but no caCertificates are set to validate server identity for host: ${s.host}`, 'spec.trafficPolicy.tls');
    }
    (s.trafficPolicy?.portLevelSettings ?? []).forEach((p, i) => {
      if (noCa(p as TrafficPolicy)) ctx.report(MESSAGES.NoServerCertificateVerificationPortLevel, r, `DestinationRule ${r.name} in namespace ${r.namespace} has TLS mode set to ${p.tls!.mode} but no caCertificates are set to validate server identity for host: ${s.host} at port ${p.port?.number ?? ''}`, `spec.trafficPolicy.portLevelSettings[${i}].tls`);
    });
  }
};

/** JWT claim routing (`@request.auth.claims.*`) on a Gateway no RequestAuthentication selects (IST0149). */
const claimRoutingWithoutAuthn: Analyzer = (ctx) => {
  const gateways = new Map(ctx.resources.filter((r) => r.kind === 'Gateway').map((g) => [`${g.namespace}/${g.name}`, g]));
  const ras = ctx.resources.filter((r) => r.kind === 'RequestAuthentication');
  for (const vs of ctx.resources) {
    if (vs.kind !== 'VirtualService') continue;
    const s = spec<VirtualServiceSpec>(vs);
    const keys = (s.http ?? []).flatMap((h) => (h.match ?? []).flatMap((m) => [...Object.keys(m.headers ?? {}), ...Object.keys(m.withoutHeaders ?? {})])).filter((k) => k.startsWith('@request.auth.claims.'));
    if (!keys.length) continue;
    for (const ref of s.gateways ?? []) {
      const g = gateways.get(resolveGatewayRef(ref, vs.namespace));
      if (!g) continue;
      const sel = spec<GatewaySpec>(g).selector ?? {};
      const covered = ras.some((ra) => {
        const m = (ra.object as KubeObject<{ selector?: { matchLabels?: Record<string, string> } }>).spec?.selector?.matchLabels;
        return (!m || Object.entries(m).every(([k, v]) => sel[k] === v)) && (ra.namespace === g.namespace || ra.namespace === 'istio-system');
      });
      if (!covered) ctx.report(MESSAGES.JwtClaimBasedRoutingWithoutRequestAuthN, vs, `The virtual service uses the JWT claim based routing (key: ${keys[0]}) but found no request authentication for the gateway (${g.namespace}/${g.name}) pod (${labelsOf(sel)}). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.`, 'spec.http');
    }
  }
};

/** Every unsatisfied Gateway API condition, as the status tsmesh's controller gives it. */
const gatewayApiConditions: Analyzer = (ctx) => {
  const status = gatewayApiStatus(ctx.resources);
  const byKey = new Map(ctx.resources.map((r) => [r.key, r]));
  const unmet = (c: Condition) => (c.type === 'Conflicted' ? c.status === 'True' : c.status === 'False');
  for (const [key, s] of status) {
    const r = byKey.get(key)!;
    for (const c of s.conditions ?? []) if (unmet(c)) ctx.report(MESSAGES.GatewayApiCondition, r, `${c.type}=${c.status} ${c.reason}: ${c.message}`);
    s.listeners?.forEach((l, i) => {
      for (const c of l.conditions) if (unmet(c) && c.type !== 'Programmed') ctx.report(MESSAGES.GatewayApiCondition, r, `listener ${l.name}: ${c.type}=${c.status} ${c.reason}: ${c.message}`, `spec.listeners[${i}]`);
    });
    s.parents?.forEach((p, i) => {
      for (const c of p.conditions) if (unmet(c)) ctx.report(MESSAGES.GatewayApiCondition, r, `parent ${p.parentRef.kind ?? 'Gateway'} ${p.parentRef.namespace}/${p.parentRef.name}: ${c.type}=${c.status} ${c.reason}: ${c.message}`, `spec.parentRefs[${i}]`);
    });
  }
};

/** The analyzers, run in this order. Add one here to extend `analyze`. */
export const ANALYZERS: ReadonlyArray<{ name: string; needs?: 'pods'; run: Analyzer }> = [
  { name: 'gateway.SelectorAnalyzer', needs: 'pods', run: gatewaySelectors },
  { name: 'virtualservice.GatewayAnalyzer', run: hostsInGateway },
  { name: 'virtualservice.ConflictingMatchAnalyzer', run: unreachableRules },
  { name: 'sidecar.SelectorAnalyzer', run: sidecarSelectors },
  { name: 'auth.AuthorizationPoliciesAnalyzer', run: authorizationPolicies },
  { name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer', run: serviceEntryProtocols },
  { name: 'destinationrule.SubsetWorkloadAnalyzer', needs: 'pods', run: subsetsWithoutPods },
  { name: 'destinationrule.CaCertificateAnalyzer', run: tlsWithoutCa },
  { name: 'virtualservice.JWTClaimRouteAnalyzer', run: claimRoutingWithoutAuthn },
  { name: 'gatewayapi.StatusAnalyzer', run: gatewayApiConditions },
];

/**
 * Analyzes a config set: validation (as the control plane applies it) mapped to istioctl's
 * messages, the analyzers, IST0106 for documents of unread Istio kinds that break Istio's schema,
 * and TSM0001 for every document not analysed.
 */
export function analyzeConfig(input: AnalyzeInput): AnalysisReport {
  const validation = validateConfig(input.resources, input.options);
  const messages: AnalysisMessage[] = validation.issues.map(fromIssue);
  const domain = input.options?.domain ?? DEFAULT_DOMAIN;
  const pods = input.resources.filter((r) => r.kind === 'Pod').map((r) => ({ namespace: r.namespace, name: r.name, labels: (r.object as KubeObject).metadata.labels ?? {} }));
  const namespaces = new Set<string>(input.resources.map((r) => (r.kind === 'Namespace' ? r.name : r.namespace)).filter(Boolean));
  for (const u of input.unread ?? []) namespaces.add(u.namespace);
  const ctx: Context = {
    resources: validation.accepted, domain, pods, havePods: pods.length > 0, namespaces,
    report(type, r, message, field) {
      messages.push({ ...type, message, origin: resourceLabel(r), reference: reference(r.source.file, field ? fieldLine(r, field) : r.source.line), field });
    },
  };
  for (const a of ANALYZERS) {
    if (a.needs === 'pods' && !ctx.havePods) {
      messages.push({ ...MESSAGES.CheckSkipped, message: `${a.name} not run: the input has no Pods, so workload selectors cannot be checked`, origin: '', reference: '' });
      continue;
    }
    a.run(ctx);
  }
  for (const u of input.unread ?? []) {
    const origin = `${u.kind} ${u.namespace}/${u.name}`;
    const problems: { path: string; code: string; reason: string }[] = [];
    checkIstioSchema(u.object, problems);
    for (const p of problems) {
      let line: number | undefined;
      for (let f = p.path; f && line === undefined; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') line = u.lines?.get(f);
      messages.push({ ...MESSAGES.SchemaValidationError, message: `Schema validation error: ${p.path}: ${p.reason}`, origin, reference: reference(u.source.file, line ?? u.source.line), field: p.path });
    }
    const schema = hasIstioSchema(u.apiVersion, u.kind) ? ' (checked against Istio\'s schema only)' : '';
    messages.push({ ...MESSAGES.NotAnalysed, message: `${u.apiVersion} ${u.kind} is not read by tsmesh: not analysed${schema}`, origin, reference: reference(u.source.file, u.source.line) });
  }
  const byKey = new Map(input.resources.map((r) => [r.key, r]));
  for (const s of input.statuses ?? []) {
    const r = byKey.get(s.key);
    const origin = resourceLabel(r ?? s);
    messages.push({ ...MESSAGES.GatewayApiStatusWritten, message: `status written by the control plane (${s.file}): ${describeWrittenStatus(s)}${r ? '' : ' (the resource is not in the input)'}`, origin, reference: r ? reference(r.source.file, r.source.line) : s.file });
  }
  return { messages, validation };
}
