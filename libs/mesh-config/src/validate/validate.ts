/**
 * Validation of a whole config set: schema per resource, then semantic checks within and across
 * resources. Resources with errors are rejected; everything else is accepted. Warnings are
 * reported and the resource is kept.
 */
import { KINDS } from '../kinds';
import { check, type SchemaProblem } from '../schema/dsl';
import { SCHEMAS } from '../schema/schemas';
import { checkIstioSchema, hasIstioSchema } from '../schema/istio';
import { checkGatewayApiSchema } from '../schema/gateway-api';
import { checkIstioRules } from './crd-rules';
import { re2Error } from '../regex';
import { issueAt, type ConfigResource } from '../resource';
import type { ConfigIssue } from '../issues';
import { DEFAULT_DOMAIN, hostMatches, resolveGatewayRef, resolveHost, splitNamespacedHost } from '../hosts';
import { parseProtocol } from '../protocol';
import { validateSecurity } from './security';
import type {
  AuthorizationPolicySpec, DestinationRuleSpec, GatewaySpec, HTTPRoute, PeerAuthenticationSpec, RouteDestination,
  ServiceEntrySpec, VirtualServiceSpec,
} from '../types/istio';
import type { KubeObject } from '../types/meta';
import { checkEnvoyFilter, type EnvoyFilterValueChecker } from './envoyfilter';

/** Options for {@link validateConfig}. */
export interface ValidateOptions {
  /** Cluster DNS suffix (default `cluster.local`). */
  domain?: string;
  /** Checks EnvoyFilter patch values against Envoy's messages and the proxy's filters (libs/xds `checkEnvoyFilterValue`). */
  checkEnvoyFilterValue?: EnvoyFilterValueChecker;
}

/** Result of validating a config set. */
export interface ValidationResult {
  /** Resources with no errors, in input order. */
  accepted: ConfigResource[];
  /** Keys of rejected resources. */
  rejected: Set<string>;
  issues: ConfigIssue[];
}

const schemaCache = new WeakMap<object, ConfigIssue[]>();

/** Schema issues of one resource (cached per object: resources are immutable). */
export function validateSchema(r: ConfigResource): ConfigIssue[] {
  const o = r.object as object;
  const hit = schemaCache.get(o);
  if (hit) return hit;
  const problems: SchemaProblem[] = [];
  if (KINDS[r.kind].istio) {
    const o = r.object as { apiVersion: string; kind: string };
    // security.istio.io/v1alpha3 is accepted (as the v1beta1 schema) for older configs.
    const target = hasIstioSchema(o.apiVersion, o.kind) ? o : { ...o, apiVersion: o.apiVersion.replace(/\/v1alpha3$/, '/v1beta1') };
    const rules: SchemaProblem[] = [];
    checkIstioRules(r.kind, r.object, r.namespace, rules);
    const ruled = new Set(rules.map((p) => p.path));
    const schema: SchemaProblem[] = [];
    checkIstioSchema(target, schema);
    problems.push(...schema.filter((p) => !ruled.has(p.path)), ...rules);
  } else if (KINDS[r.kind].gatewayApi) {
    checkGatewayApiSchema(r.object as { apiVersion: string; kind: string }, problems);
  } else {
    const schema = SCHEMAS[r.kind];
    if (schema) check(schema, r.object, '', problems);
    else problems.push({ path: '', code: 'SCHEMA_MISSING', reason: `no schema for ${r.kind}` });
  }
  const issues = problems.map((p) => issueAt(r, p.path, p.code, p.reason)).sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  schemaCache.set(o, issues);
  return issues;
}

const spec = <T>(r: ConfigResource): T => ((r.object as KubeObject<T>).spec ?? {}) as T;

/** RE2 (not JavaScript) syntax: Envoy and gRPC compile these with RE2 and NACK what it refuses. */
const safeRegex = re2Error;

const resourceCache = new WeakMap<object, ConfigIssue[]>();

/** Checks within one resource (no other resource needed); cached per object like {@link validateSchema}. */
export function validateResource(r: ConfigResource): ConfigIssue[] {
  const o = r.object as object;
  let hit = resourceCache.get(o);
  if (!hit) resourceCache.set(o, (hit = [...checkResource(r), ...validateSecurity(r)]));
  return hit;
}

function checkResource(r: ConfigResource): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  switch (r.kind) {
    case 'VirtualService': {
      const s = spec<VirtualServiceSpec>(r);
      // No hosts: a delegate, which only a root VirtualService's `delegate` uses (Istio's rules for delegates).
      const delegate = !s.hosts?.length;
      if (delegate) {
        if (s.gateways?.length) out.push(issueAt(r, 'spec.gateways', 'VS_DELEGATE', 'a delegate VirtualService (no hosts) cannot have gateways'));
        if (s.tcp?.length) out.push(issueAt(r, 'spec.tcp', 'VS_DELEGATE', 'a delegate VirtualService (no hosts) only has http routes'));
        if (s.tls?.length) out.push(issueAt(r, 'spec.tls', 'VS_DELEGATE', 'a delegate VirtualService (no hosts) only has http routes'));
      }
      (s.http ?? []).forEach((h, i) => {
        const at = `spec.http[${i}]`;
        checkWeights(r, h.route ?? [], `${at}.route`, out);
        if (delegate && h.delegate) out.push(issueAt(r, `${at}.delegate`, 'VS_DELEGATE', 'a delegate VirtualService cannot delegate again'));
        if (!h.route?.length && !h.redirect && !h.directResponse && !h.delegate) out.push(issueAt(r, at, 'VS_NO_ACTION', 'an HTTP route needs route, redirect, directResponse or delegate'));
        if (h.redirect && h.rewrite) out.push(issueAt(r, `${at}.rewrite`, 'VS_REWRITE_WITH_REDIRECT', 'rewrite cannot be used with redirect'));
        (h.match ?? []).forEach((m, j) => {
          const stringMatches: [string, { regex?: string } | undefined][] = [
            ['uri', m.uri], ['method', m.method], ['authority', m.authority], ['scheme', m.scheme],
            ...Object.entries(m.headers ?? {}).map(([k, v]) => [`headers.${k}`, v] as [string, { regex?: string }]),
            ...Object.entries(m.queryParams ?? {}).map(([k, v]) => [`queryParams.${k}`, v] as [string, { regex?: string }]),
          ];
          for (const [f, sm] of stringMatches) {
            const bad = sm?.regex !== undefined ? safeRegex(sm.regex) : null;
            if (bad) out.push(issueAt(r, `${at}.match[${j}].${f}.regex`, 'VS_BAD_REGEX', `invalid regular expression: ${bad}`));
          }
        });
        if (h.rewrite?.uriRegexRewrite) {
          const bad = safeRegex(h.rewrite.uriRegexRewrite.match);
          if (bad) out.push(issueAt(r, `${at}.rewrite.uriRegexRewrite.match`, 'VS_BAD_REGEX', `invalid regular expression: ${bad}`));
        }
        const f = h.fault;
        if (f && !f.delay && !f.abort) out.push(issueAt(r, `${at}.fault`, 'VS_EMPTY_FAULT', 'fault needs delay or abort'));
        if (f?.delay && !f.delay.fixedDelay && !f.delay.exponentialDelay) out.push(issueAt(r, `${at}.fault.delay`, 'VS_EMPTY_FAULT', 'delay needs fixedDelay'));
        if (f?.abort && f.abort.httpStatus === undefined && !f.abort.grpcStatus && !f.abort.http2Error) out.push(issueAt(r, `${at}.fault.abort`, 'VS_EMPTY_FAULT', 'abort needs httpStatus or grpcStatus'));
      });
      (s.tcp ?? []).forEach((t, i) => checkWeights(r, t.route ?? [], `spec.tcp[${i}].route`, out));
      (s.tls ?? []).forEach((t, i) => checkWeights(r, t.route ?? [], `spec.tls[${i}].route`, out));
      break;
    }
    case 'DestinationRule': {
      const s = spec<DestinationRuleSpec>(r);
      const seen = new Set<string>();
      (s.subsets ?? []).forEach((sub, i) => {
        if (seen.has(sub.name)) out.push(issueAt(r, `spec.subsets[${i}].name`, 'DR_DUPLICATE_SUBSET', `subset "${sub.name}" is defined twice`));
        seen.add(sub.name);
      });
      const tlsChecks: [string, DestinationRuleSpec['trafficPolicy']][] = [['spec.trafficPolicy', s.trafficPolicy], ...(s.subsets ?? []).map((x, i) => [`spec.subsets[${i}].trafficPolicy`, x.trafficPolicy] as [string, DestinationRuleSpec['trafficPolicy']])];
      for (const [at, tp] of tlsChecks) {
        const tls = tp?.tls;
        if (tls?.mode === 'MUTUAL' && !tls.credentialName && (!tls.clientCertificate || !tls.privateKey)) {
          out.push(issueAt(r, `${at}.tls`, 'DR_TLS_NO_CREDENTIAL', 'MUTUAL TLS needs credentialName, or clientCertificate and privateKey'));
        }
      }
      break;
    }
    case 'Gateway': {
      const s = spec<GatewaySpec>(r);
      (s.servers ?? []).forEach((srv, i) => {
        const at = `spec.servers[${i}]`;
        const proto = (srv.port?.protocol ?? '').toUpperCase();
        if (!['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'TCP', 'TLS'].includes(proto)) {
          out.push(issueAt(r, `${at}.port.protocol`, 'GW_BAD_PROTOCOL', `"${srv.port?.protocol ?? ''}" is not one of HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS`));
        }
        const tls = srv.tls;
        if ((proto === 'HTTPS' || proto === 'TLS') && !tls) out.push(issueAt(r, at, 'GW_TLS_MISSING', `a ${proto} server needs a tls block`));
        if (tls && !tls.httpsRedirect && proto !== 'HTTPS' && proto !== 'TLS') out.push(issueAt(r, `${at}.tls`, 'GW_TLS_ON_PLAINTEXT', `tls (other than httpsRedirect) needs protocol HTTPS or TLS, not ${proto}`));
        const mode = tls?.mode ?? (tls && (proto === 'HTTPS' || proto === 'TLS') ? 'SIMPLE' : undefined);
        if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
          const t = tls as (typeof tls & { tlsCertificates?: { serverCertificate?: string; privateKey?: string }[]; caCertCredentialName?: string }) | undefined;
          const hasCred = !!tls?.credentialName || !!tls?.credentialNames?.length || (!!tls?.serverCertificate && !!tls?.privateKey)
            || !!t?.tlsCertificates?.some((c) => !!c.serverCertificate && !!c.privateKey);
          if (!hasCred) out.push(issueAt(r, `${at}.tls`, 'GW_TLS_NO_CREDENTIAL', `TLS mode ${mode} needs credentialName, serverCertificate and privateKey, or tlsCertificates`));
          if (mode !== 'SIMPLE' && !tls?.credentialName && !tls?.caCertificates && !tls?.credentialNames?.length && !t?.caCertCredentialName) {
            out.push(issueAt(r, `${at}.tls`, 'GW_TLS_NO_CA', `TLS mode ${mode} needs credentialName (with ca.crt), caCertCredentialName or caCertificates to verify clients`));
          }
        }
        (srv.hosts ?? []).forEach((h, j) => {
          const { host } = splitNamespacedHost(h, r.namespace);
          if (!host || (host !== '*' && !/^(\*\.)?[a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?$/.test(host))) {
            out.push(issueAt(r, `${at}.hosts[${j}]`, 'GW_BAD_HOST', `"${h}" is not a host name, "*.domain" or "*"`));
          }
        });
      });
      break;
    }
    case 'PeerAuthentication': {
      const s = spec<PeerAuthenticationSpec>(r);
      if (s.portLevelMtls && Object.keys(s.portLevelMtls).length && !s.selector?.matchLabels) {
        out.push(issueAt(r, 'spec.portLevelMtls', 'PA_PORT_WITHOUT_SELECTOR', 'portLevelMtls needs a workload selector'));
      }
      for (const p of Object.keys(s.portLevelMtls ?? {})) {
        const n = Number(p);
        if (!Number.isInteger(n) || n < 1 || n > 65535) out.push(issueAt(r, `spec.portLevelMtls.${p}`, 'PA_BAD_PORT', `"${p}" is not a port number`));
      }
      break;
    }
    case 'AuthorizationPolicy': {
      const s = spec<AuthorizationPolicySpec>(r);
      if (s.action === 'CUSTOM' && !s.provider?.name) out.push(issueAt(r, 'spec.provider', 'AP_CUSTOM_NO_PROVIDER', 'action CUSTOM needs provider.name'));
      if (s.action !== 'CUSTOM' && s.provider) out.push(issueAt(r, 'spec.provider', 'AP_PROVIDER_NOT_CUSTOM', 'provider is only allowed with action CUSTOM'));
      // Rules, conditions and values: ./security.ts.
      break;
    }
    case 'ServiceEntry': {
      const s = spec<ServiceEntrySpec>(r);
      (s.ports ?? []).forEach((p, i) => {
        if (p.protocol && parseProtocol(p.protocol) === 'UNKNOWN') out.push(issueAt(r, `spec.ports[${i}].protocol`, 'SE_BAD_PROTOCOL', `"${p.protocol}" is not a known protocol`));
      });
      break;
    }
    default:
      break;
  }
  return out;
}

/**
 * Istio's weight rule: weights are relative (1/1 is a 50/50 split), so only a route of several
 * destinations whose weights are all zero is refused.
 */
function checkWeights(r: ConfigResource, routes: RouteDestination[], at: string, out: ConfigIssue[]): void {
  if (routes.length < 2) return;
  const sum = routes.reduce((a, d) => a + (d.weight ?? 0), 0);
  if (sum === 0) out.push(issueAt(r, at, 'VS_WEIGHT_SUM', 'total destination weight is 0: at least one destination needs a weight'));
}

/** Hosts of the registry: every Service FQDN and every ServiceEntry host (wildcards kept). */
export function registryHosts(resources: readonly ConfigResource[], domain = DEFAULT_DOMAIN): { exact: Set<string>; wildcard: string[] } {
  const exact = new Set<string>();
  const wildcard: string[] = [];
  for (const r of resources) {
    if (r.kind === 'Service') exact.add(`${r.name}.${r.namespace}.svc.${domain}`);
    else if (r.kind === 'ServiceEntry') {
      for (const h of spec<ServiceEntrySpec>(r).hosts ?? []) {
        const fq = resolveHost(h, r.namespace, domain);
        if (fq.startsWith('*')) wildcard.push(fq);
        else exact.add(fq);
      }
    }
  }
  return { exact, wildcard };
}

/**
 * Validates a config set. Order: schema and single-resource checks (errors reject), then checks
 * across resources against what was accepted so far (destination hosts and subsets, Gateway
 * conflicts, credentials).
 */
export function validateConfig(resources: readonly ConfigResource[], opts: ValidateOptions = {}): ValidationResult {
  const domain = opts.domain ?? DEFAULT_DOMAIN;
  const issues: ConfigIssue[] = [];
  const rejected = new Set<string>();
  const seen = new Map<string, ConfigResource>();
  const reject = (r: ConfigResource, list: ConfigIssue[]) => {
    issues.push(...list);
    if (list.some((i) => i.severity === 'error')) rejected.add(r.key);
  };

  for (const r of resources) {
    const prev = seen.get(r.key);
    if (prev) {
      issues.push(...[issueAt(r, 'metadata.name', 'DUPLICATE_RESOURCE', `${r.kind} ${r.namespace}/${r.name} is also defined in ${prev.source.file}${prev.source.line ? `:${prev.source.line}` : ''}; this copy is ignored`)]);
      continue;
    }
    seen.set(r.key, r);
    if (r.kind === 'Ingress' && (r.object as { spec?: { ingressClassName?: string } }).spec?.ingressClassName !== 'istio') continue;
    const semantic = KINDS[r.kind].istio ? validateResource(r) : [];
    // A semantic finding on a field says more than the schema's (issuer "" is "issuer is required", not "minLength is 1").
    const named = new Set(semantic.map((i) => i.field));
    const schema = validateSchema(r).filter((i) => !named.has(i.field));
    const envoyFilter = r.kind === 'EnvoyFilter' && !schema.length ? checkEnvoyFilter(r, opts.checkEnvoyFilterValue) : [];
    reject(r, [...schema, ...semantic, ...envoyFilter]);
  }

  let ok = resources.filter((r) => !rejected.has(r.key) && seen.get(r.key) === r);
  const hosts = registryHosts(ok, domain);
  const known = (fq: string) => hosts.exact.has(fq) || hosts.wildcard.some((w) => hostMatches(w, fq));

  // Subsets per host, from accepted DestinationRules.
  const subsets = new Map<string, Set<string>>();
  for (const r of ok) {
    if (r.kind !== 'DestinationRule') continue;
    const s = spec<DestinationRuleSpec>(r);
    const fq = resolveHost(s.host, r.namespace, domain);
    if (!fq.startsWith('*') && !known(fq)) issues.push(issueAt(r, 'spec.host', 'DR_UNKNOWN_HOST', `no Service or ServiceEntry has host "${fq}"`, 'warning'));
    let set = subsets.get(fq);
    if (!set) subsets.set(fq, (set = new Set()));
    for (const sub of s.subsets ?? []) set.add(sub.name);
  }

  // Gateways: two serving one port and host on the same workloads. Istio keeps both: plain-HTTP
  // servers share the port's route table, and of two TLS servers for one host the older one wins.
  const gateways = ok.filter((r) => r.kind === 'Gateway').sort(olderFirst);
  const claims: { selector: string; port: number; host: string; by: ConfigResource; server: GatewaySpec['servers'][number] }[] = [];
  const gatewayKeys = new Set<string>();
  for (const g of gateways) {
    const s = spec<GatewaySpec>(g);
    const sel = JSON.stringify(Object.entries(s.selector ?? {}).sort());
    const mine: typeof claims = [];
    const problems: ConfigIssue[] = [];
    (s.servers ?? []).forEach((srv, i) => {
      (srv.hosts ?? []).forEach((h, j) => {
        const host = splitNamespacedHost(h, g.namespace).host;
        const clash = claims.find((c) => c.selector === sel && c.port === srv.port.number && c.host === host);
        if (clash) {
          const tls = isTlsServer(srv) && isTlsServer(clash.server);
          problems.push(issueAt(g, `spec.servers[${i}].hosts[${j}]`, 'GW_CONFLICT', `port ${srv.port.number} host "${host}" is also served by Gateway ${clash.by.namespace}/${clash.by.name} (${clash.by.source.file}) on the same workloads (${labelText(s.selector)}); ${tls ? 'this TLS server is skipped (the older Gateway keeps the host)' : 'their routes are merged into one route table'}`, 'warning'));
        }
        mine.push({ selector: sel, port: srv.port.number, host, by: g, server: srv });
      });
      if (srv.tls?.credentialName && !ok.some((x) => x.kind === 'Secret' && x.name === srv.tls!.credentialName)) {
        problems.push(issueAt(g, `spec.servers[${i}].tls.credentialName`, 'GW_SECRET_NOT_FOUND', `no Secret named "${srv.tls.credentialName}" is known (yet); the server has no certificate until it appears`, 'warning'));
      }
    });
    reject(g, problems);
    if (!rejected.has(g.key)) {
      claims.push(...mine);
      gatewayKeys.add(`${g.namespace}/${g.name}`);
    }
  }

  // VirtualServices: destination hosts and subsets must exist; gateway references should.
  for (const r of ok) {
    if (r.kind !== 'VirtualService') continue;
    const s = spec<VirtualServiceSpec>(r);
    const problems: ConfigIssue[] = [];
    const checkDest = (d: { host: string; subset?: string } | undefined, at: string) => {
      if (!d?.host) return;
      const fq = resolveHost(d.host, r.namespace, domain);
      // Istio programs these routes anyway (requests to them fail with 503); istioctl reports IST0101.
      if (!known(fq)) {
        problems.push(issueAt(r, `${at}.host`, 'VS_UNKNOWN_HOST', `no Service or ServiceEntry has host "${fq}"`, 'warning'));
        return;
      }
      if (d.subset && !subsets.get(fq)?.has(d.subset)) {
        problems.push(issueAt(r, `${at}.subset`, 'VS_UNKNOWN_SUBSET', `no DestinationRule for "${fq}" defines subset "${d.subset}"`, 'warning'));
      }
    };
    (s.http ?? []).forEach((h: HTTPRoute, i) => {
      (h.route ?? []).forEach((d, j) => checkDest(d.destination, `spec.http[${i}].route[${j}].destination`));
      if (h.mirror) checkDest(h.mirror, `spec.http[${i}].mirror`);
      (h.mirrors ?? []).forEach((m, j) => checkDest(m.destination, `spec.http[${i}].mirrors[${j}].destination`));
    });
    (s.tcp ?? []).forEach((t, i) => (t.route ?? []).forEach((d, j) => checkDest(d.destination, `spec.tcp[${i}].route[${j}].destination`)));
    (s.tls ?? []).forEach((t, i) => (t.route ?? []).forEach((d, j) => checkDest(d.destination, `spec.tls[${i}].route[${j}].destination`)));
    (s.gateways ?? []).forEach((g, i) => {
      const ref = resolveGatewayRef(g, r.namespace);
      if (ref !== 'mesh' && !gatewayKeys.has(ref)) problems.push(issueAt(r, `spec.gateways[${i}]`, 'VS_UNKNOWN_GATEWAY', `no accepted Gateway "${ref}"`, 'warning'));
    });
    reject(r, problems);
  }

  ok = ok.filter((r) => !rejected.has(r.key));
  return { accepted: ok, rejected, issues };
}

function labelText(sel: Record<string, string> | undefined): string {
  return Object.entries(sel ?? {}).map(([k, v]) => `${k}=${v}`).sort().join(',');
}

function isTlsServer(s: GatewaySpec['servers'][number]): boolean {
  const p = (s.port?.protocol ?? '').toUpperCase();
  return (p === 'HTTPS' || p === 'TLS') && !s.tls?.httpsRedirect;
}

function olderFirst(a: ConfigResource, b: ConfigResource): number {
  const ta = created(a);
  const tb = created(b);
  if (ta !== tb) return ta - tb;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function created(r: ConfigResource): number {
  const c = (r.object as KubeObject).metadata?.creationTimestamp;
  const t = c ? new Date(c).getTime() : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}
