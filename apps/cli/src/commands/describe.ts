/**
 * `tsmesh x describe pod|svc`: which Services, DestinationRules (and the subsets the pod is in),
 * VirtualServices (the routes that reach the service, with weights, matches, faults), Gateways
 * exposing it, the effective PeerAuthentication mTLS mode and the AuthorizationPolicies that apply
 * — explained in istioctl's words, over the control plane's accepted config (`/debug/configz`).
 */
import { Command } from 'commander';
import { hostMatches, resolveGatewayRef, resolveHost } from '@tsmesh/mesh-config';
import { getJson } from './proxy-status';
import { parsePodRef, type KubeObjectView } from './pod-access';

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The mesh's root namespace (mesh-wide PeerAuthentication and AuthorizationPolicy). */
export const ROOT_NAMESPACE = 'istio-system';

const SEP = '--------------------';

function nsOf(o: KubeObjectView): string {
  return o.metadata.namespace ?? 'default';
}

function ref(o: KubeObjectView): string {
  return `${o.metadata.name}.${nsOf(o)}`;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

function ofKind(objects: KubeObjectView[], kind: string): KubeObjectView[] {
  return objects.filter((o) => o.kind === kind);
}

function svcFqdn(svc: KubeObjectView): string {
  return `${svc.metadata.name}.${nsOf(svc)}.svc.cluster.local`;
}

/** The Services whose selector picks the pod (in its namespace). */
export function servicesOfPod(objects: KubeObjectView[], pod: KubeObjectView): KubeObjectView[] {
  const labels = pod.metadata.labels ?? {};
  return ofKind(objects, 'Service').filter((s) => nsOf(s) === nsOf(pod) && s.spec?.selector && Object.keys(s.spec.selector).length > 0 && selects(s.spec.selector, labels));
}

/** The DestinationRule that applies to a host: the most specific match (exact before wildcard), the service's namespace first. */
export function destinationRuleFor(objects: KubeObjectView[], fqdn: string, clientNs: string): KubeObjectView | undefined {
  const drs = ofKind(objects, 'DestinationRule')
    .filter((d) => !d.spec?.exportTo || d.spec.exportTo.includes('*') || d.spec.exportTo.includes(nsOf(d) === clientNs ? '.' : clientNs) || d.spec.exportTo.includes(clientNs))
    .map((d) => ({ d, host: resolveHost(String(d.spec?.host ?? ''), nsOf(d)) }))
    .filter((x) => hostMatches(x.host, fqdn));
  drs.sort((a, b) => Number(b.host === fqdn) - Number(a.host === fqdn) || Number(nsOf(b.d) === clientNs) - Number(nsOf(a.d) === clientNs) || b.host.length - a.host.length);
  return drs[0]?.d;
}

function tlsMode(tp: J | undefined, port?: number): string | undefined {
  const pl = (tp?.portLevelSettings ?? []).find((p: J) => port !== undefined && p.port?.number === port);
  return pl?.tls?.mode ?? tp?.tls?.mode;
}

function policiesOf(tp: J | undefined): string[] {
  if (!tp) return [];
  const names: Record<string, string> = { connectionPool: 'connectionPool', outlierDetection: 'outlierDetection', loadBalancer: 'loadBalancer', tls: 'TLS', portLevelSettings: 'portLevelSettings' };
  return Object.keys(tp).filter((k) => names[k]).map((k) => names[k]);
}

function describeDestinationRule(dr: KubeObjectView, fqdn: string, podLabels: Record<string, string> | undefined, port?: number): string[] {
  const lines = [`DestinationRule: ${ref(dr)} for "${dr.spec?.host}"`];
  const subsets: J[] = dr.spec?.subsets ?? [];
  if (podLabels) {
    const matching = subsets.filter((s) => selects(s.labels, podLabels)).map((s) => s.name);
    const other = subsets.filter((s) => !selects(s.labels, podLabels)).map((s) => s.name);
    if (subsets.length) {
      lines.push(`   Matching subsets: ${matching.join(',') || 'none'}`);
      if (other.length) lines.push(`      (Non-matching subsets ${other.join(',')})`);
    }
  } else if (subsets.length) {
    lines.push(`   Subsets: ${subsets.map((s) => `${s.name} (${Object.entries(s.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',')})`).join(', ')}`);
  }
  const tp = dr.spec?.trafficPolicy as J | undefined;
  const mode = tlsMode(tp, port);
  lines.push(mode ? `   Traffic Policy TLS Mode: ${mode}` : '   Traffic Policy TLS Mode: (unset: auto mTLS — ISTIO_MUTUAL to sidecars)');
  const pols = policiesOf(tp);
  lines.push(pols.length ? `   Policies: ${pols.join(' ')}` : '   No Traffic Policy');
  void fqdn;
  return lines;
}

function matchText(m: J): string {
  const parts: string[] = [];
  const str = (s: J) => (s.exact !== undefined ? String(s.exact) : s.prefix !== undefined ? `${s.prefix}*` : s.regex !== undefined ? `~${s.regex}` : '');
  if (m.uri) parts.push(str(m.uri));
  for (const [k, v] of Object.entries(m.headers ?? {})) parts.push(`header ${k}=${str(v as J)}`);
  for (const [k, v] of Object.entries(m.queryParams ?? {})) parts.push(`query ${k}=${str(v as J)}`);
  if (m.method) parts.push(`method ${str(m.method)}`);
  if (m.port) parts.push(`port ${m.port}`);
  if (m.sourceLabels) parts.push(`from ${Object.entries(m.sourceLabels).map(([k, v]) => `${k}=${v}`).join(',')}`);
  if (m.sourceNamespace) parts.push(`from namespace ${m.sourceNamespace}`);
  if (m.gateways) parts.push(`via ${m.gateways.join(',')}`);
  return parts.join(' ') || '/*';
}

/** The HTTP/TCP/TLS routes of a VirtualService that reach `fqdn`, in istioctl's words. */
function describeVirtualService(vs: KubeObjectView, fqdn: string, podLabels: Record<string, string> | undefined, dr: KubeObjectView | undefined): string[] {
  const ns = nsOf(vs);
  const lines = [`VirtualService: ${ref(vs)}`];
  const subsetsOfPod = new Set(((dr?.spec?.subsets ?? []) as J[]).filter((s) => podLabels && selects(s.labels, podLabels)).map((s) => s.name));
  const http: J[] = vs.spec?.http ?? [];
  let reaching = 0;
  for (const [i, r] of http.entries()) {
    const dests: J[] = (r.route ?? []).filter((d: J) => resolveHost(String(d.destination?.host ?? ''), ns) === fqdn);
    if (!dests.length) continue;
    reaching++;
    const total = (r.route as J[]).reduce((a, d) => a + (d.weight ?? (r.route.length === 1 ? 100 : 0)), 0) || 100;
    const name = r.name ? ` "${r.name}"` : '';
    const matches: J[] = r.match ?? [];
    lines.push(`   HTTP route${name} #${i}: ${matches.length ? matches.map(matchText).join(' | ') : '/*'}`);
    for (const d of dests) {
      const w = d.weight ?? (r.route.length === 1 ? 100 : 0);
      const subset = d.destination.subset ? ` subset "${d.destination.subset}"` : '';
      const mine = podLabels && d.destination.subset ? (subsetsOfPod.has(d.destination.subset) ? ' (this pod)' : '') : '';
      lines.push(`      Route to host "${d.destination.host}"${subset}${d.destination.port?.number ? ` port ${d.destination.port.number}` : ''} with weight ${Math.round((w * 100) / total)}%${mine}`);
    }
    if (podLabels) {
      const w = dests.filter((d) => !d.destination.subset || subsetsOfPod.has(d.destination.subset)).reduce((a, d) => a + (d.weight ?? (r.route.length === 1 ? 100 : 0)), 0);
      lines.push(`      Weight to this pod's subset: ${Math.round((w * 100) / total)}%`);
    }
    if (r.fault?.abort) lines.push(`      Fault injection: abort ${r.fault.abort.httpStatus ?? r.fault.abort.grpcStatus} for ${r.fault.abort.percentage?.value ?? 100}%`);
    if (r.fault?.delay) lines.push(`      Fault injection: delay ${r.fault.delay.fixedDelay} for ${r.fault.delay.percentage?.value ?? 100}%`);
    if (r.timeout) lines.push(`      Timeout: ${r.timeout}`);
    if (r.retries) lines.push(`      Retries: ${r.retries.attempts ?? '?'} attempts${r.retries.perTryTimeout ? `, ${r.retries.perTryTimeout} per try` : ''}${r.retries.retryOn ? ` on ${r.retries.retryOn}` : ''}`);
    if (r.mirror) lines.push(`      Mirror to "${r.mirror.host}"`);
  }
  for (const [kind, list] of [['TCP', vs.spec?.tcp ?? []], ['TLS', vs.spec?.tls ?? []]] as [string, J[]][]) {
    for (const r of list) {
      const dests = (r.route ?? []).filter((d: J) => resolveHost(String(d.destination?.host ?? ''), ns) === fqdn);
      if (!dests.length) continue;
      reaching++;
      lines.push(`   ${kind} route: ${dests.map((d: J) => `"${d.destination.host}"${d.destination.subset ? ` subset "${d.destination.subset}"` : ''} weight ${d.weight ?? 100}%`).join(', ')}`);
    }
  }
  lines.splice(1, 0, `   ${reaching} route(s) reach "${fqdn}" (${http.length} HTTP route(s) in all)`);
  return lines;
}

/** VirtualServices for the service: those naming its host, and those routing to it (gateway ones included). */
export function virtualServicesFor(objects: KubeObjectView[], fqdn: string): KubeObjectView[] {
  return ofKind(objects, 'VirtualService').filter((vs) => {
    const ns = nsOf(vs);
    const routes: J[] = [...(vs.spec?.http ?? []), ...(vs.spec?.tcp ?? []), ...(vs.spec?.tls ?? [])];
    return routes.some((r) => (r.route ?? []).some((d: J) => resolveHost(String(d.destination?.host ?? ''), ns) === fqdn));
  });
}

function gatewaysOf(vs: KubeObjectView): string[] {
  const g: string[] = vs.spec?.gateways ?? [];
  return g.length ? g.map((x) => resolveGatewayRef(x, nsOf(vs))) : ['mesh'];
}

function describeGateway(objects: KubeObjectView[], gref: string): string[] {
  const [ns, name] = gref.split('/');
  const gw = ofKind(objects, 'Gateway').find((g) => nsOf(g) === ns && g.metadata.name === name && g.apiVersion?.startsWith('networking.istio.io'));
  if (!gw) return [`   Gateway ${gref}: not found (the VirtualService's routes through it are not served)`];
  const sel = Object.entries(gw.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
  const pods = ofKind(objects, 'Pod').filter((p) => selects(gw.spec?.selector, p.metadata.labels ?? {}));
  const servers: J[] = gw.spec?.servers ?? [];
  const lines = [`Exposed on Ingress Gateway ${ref(gw)} (selector ${sel || 'none'}${pods.length ? `: ${pods.map((p) => p.metadata.name).join(', ')}` : ': no pod'})`];
  for (const s of servers) lines.push(`   ${String(s.port?.protocol ?? '').toUpperCase()} ${s.port?.number} hosts ${(s.hosts ?? []).join(',')}${s.tls?.mode ? ` TLS ${s.tls.mode}${s.tls.credentialName ? ` (credential ${s.tls.credentialName})` : ''}` : ''}`);
  return lines;
}

function paMode(pa: KubeObjectView, port?: number): string | undefined {
  const pl = port !== undefined ? pa.spec?.portLevelMtls?.[String(port)]?.mode : undefined;
  const m = pl ?? pa.spec?.mtls?.mode;
  return m && m !== 'UNSET' ? m : undefined;
}

/** The effective mTLS mode of a workload (Istio: workload selector > namespace > mesh root; PERMISSIVE by default) and the policies it came from. */
export function effectivePeerAuthentication(objects: KubeObjectView[], ns: string, labels: Record<string, string>, port?: number): { mode: string; applied: KubeObjectView[] } {
  const pas = ofKind(objects, 'PeerAuthentication');
  const workload = pas.filter((p) => nsOf(p) === ns && p.spec?.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length > 0 && selects(p.spec.selector.matchLabels, labels));
  const namespace = pas.filter((p) => nsOf(p) === ns && !(p.spec?.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length));
  const mesh = pas.filter((p) => nsOf(p) === ROOT_NAMESPACE && !(p.spec?.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length));
  const oldest = (l: KubeObjectView[]) => [...l].sort((a, b) => String((a.metadata as J).creationTimestamp ?? '').localeCompare(String((b.metadata as J).creationTimestamp ?? '')) || ref(a).localeCompare(ref(b)))[0];
  const applied = [oldest(workload), oldest(namespace), ns !== ROOT_NAMESPACE ? oldest(mesh) : undefined].filter((x): x is KubeObjectView => !!x);
  let mode = 'PERMISSIVE';
  for (const p of [...applied].reverse()) mode = paMode(p, port) ?? mode;
  return { mode, applied };
}

/** The AuthorizationPolicies selecting a workload: mesh-wide (root namespace), its namespace's, and those whose selector matches. */
export function authorizationPoliciesFor(objects: KubeObjectView[], ns: string, labels: Record<string, string>): KubeObjectView[] {
  return ofKind(objects, 'AuthorizationPolicy').filter((p) => (nsOf(p) === ns || nsOf(p) === ROOT_NAMESPACE) && selects(p.spec?.selector?.matchLabels, labels));
}

function describePolicies(objects: KubeObjectView[], ns: string, labels: Record<string, string>, port?: number): string[] {
  const lines: string[] = [SEP];
  const pa = effectivePeerAuthentication(objects, ns, labels, port);
  lines.push('Effective PeerAuthentication:', `   Workload mTLS mode: ${pa.mode}${port !== undefined ? ` (port ${port})` : ''}`);
  if (pa.applied.length) lines.push('Applied PeerAuthentication:', `   ${pa.applied.map(ref).join(', ')}`);
  else lines.push('Applied PeerAuthentication:', '   none (the mesh default, PERMISSIVE: mTLS and plaintext both accepted)');
  const aps = authorizationPoliciesFor(objects, ns, labels);
  lines.push(SEP);
  if (!aps.length) lines.push('AuthorizationPolicies: none (every request is allowed)');
  else {
    lines.push('AuthorizationPolicies:');
    for (const p of aps) {
      const action = p.spec?.action ?? 'ALLOW';
      const rules: J[] = p.spec?.rules ?? [];
      const what = rules.length === 0 ? (action === 'ALLOW' ? 'no rules: denies every request' : 'no rules: matches nothing') : `${rules.length} rule(s)`;
      lines.push(`   ${action} ${ref(p)}: ${what}`);
    }
    if (aps.some((p) => (p.spec?.action ?? 'ALLOW') === 'ALLOW')) lines.push('   (with an ALLOW policy, requests no ALLOW rule matches are denied)');
  }
  return lines;
}

function portsOfPod(pod: KubeObjectView): string {
  const ports: string[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])] as J[]) for (const p of c.ports ?? []) ports.push(`${p.containerPort} (${c.name})`);
  return ports.join(', ') || 'none';
}

function servicePortLines(svc: KubeObjectView): string[] {
  return ((svc.spec?.ports ?? []) as J[]).map((p) => {
    const proto = p.appProtocol ?? (p.name ? String(p.name).split('-')[0].toUpperCase() : 'TCP');
    return `   Port: ${p.name ?? ''} ${p.port}/${['HTTP', 'HTTP2', 'GRPC', 'TCP', 'TLS', 'HTTPS', 'MONGO', 'REDIS', 'MYSQL'].includes(String(proto).toUpperCase()) ? String(proto).toUpperCase() : 'TCP'} targets pod port ${p.targetPort ?? p.port}`;
  });
}

function serviceSection(objects: KubeObjectView[], svc: KubeObjectView, pod: KubeObjectView | undefined): string[] {
  const fqdn = svcFqdn(svc);
  const lines = [SEP, `Service: ${ref(svc)}`, ...servicePortLines(svc)];
  const dr = destinationRuleFor(objects, fqdn, nsOf(svc));
  lines.push(...(dr ? describeDestinationRule(dr, fqdn, pod?.metadata.labels) : ['DestinationRule: none (no subsets; auto mTLS to sidecars)']));
  const vss = virtualServicesFor(objects, fqdn);
  if (!vss.length) lines.push('VirtualService: none (requests reach every endpoint, round robin)');
  const exposed: string[] = [];
  for (const vs of vss) {
    lines.push(...describeVirtualService(vs, fqdn, pod?.metadata.labels, dr));
    const gws = gatewaysOf(vs);
    lines.push(`   Bound to: ${gws.join(', ')}`);
    for (const g of gws) if (g !== 'mesh') exposed.push(...describeGateway(objects, g), `   via VirtualService ${ref(vs)}: ${((vs.spec?.hosts ?? []) as string[]).join(', ')}`);
  }
  if (exposed.length) lines.push(SEP, ...exposed);
  return lines;
}

/** `x describe pod` over the control plane's config. */
export function describePod(objects: KubeObjectView[], name: string, namespace?: string): string {
  const pods = ofKind(objects, 'Pod').filter((p) => !namespace || nsOf(p) === namespace);
  const pod = pods.find((p) => p.metadata.name === name);
  if (!pod) throw new Error(`pod "${name}"${namespace ? ` in namespace ${namespace}` : ''} not found; pods: ${pods.map(ref).sort().join(', ') || 'none'}`);
  const labels = pod.metadata.labels ?? {};
  const containers = ((pod.spec?.containers ?? []) as J[]).map((c) => c.name);
  const sidecar = containers.includes('istio-proxy') || ((pod.spec?.initContainers ?? []) as J[]).some((c) => c.name === 'istio-proxy');
  const lines = [`Pod: ${ref(pod)}`, `   Pod Ports: ${portsOfPod(pod)}`];
  if (!sidecar) lines.push('WARNING: no istio-proxy container: the pod is not in the mesh (its namespace is not labelled istio-injection=enabled, or the pod opts out)');
  const svcs = servicesOfPod(objects, pod);
  if (!svcs.length) lines.push('Suggestion: no Service selects this pod, so no VirtualService or DestinationRule routes to it');
  for (const svc of svcs) lines.push(...serviceSection(objects, svc, pod));
  lines.push(...describePolicies(objects, nsOf(pod), labels));
  return lines.join('\n') + '\n';
}

/** `x describe svc` over the control plane's config. */
export function describeService(objects: KubeObjectView[], name: string, namespace = 'default'): string {
  const svc = ofKind(objects, 'Service').find((s) => s.metadata.name === name && nsOf(s) === namespace);
  if (!svc) throw new Error(`service "${name}" in namespace ${namespace} not found; services: ${ofKind(objects, 'Service').filter((s) => nsOf(s) === namespace).map((s) => s.metadata.name).sort().join(', ') || 'none'}`);
  const pods = ofKind(objects, 'Pod').filter((p) => nsOf(p) === namespace && svc.spec?.selector && selects(svc.spec.selector, p.metadata.labels ?? {}));
  const lines = serviceSection(objects, svc, undefined).slice(1);
  lines.splice(1 + servicePortLines(svc).length, 0, `   Pods: ${pods.map((p) => p.metadata.name).sort().join(', ') || 'none'}`);
  // policies as they apply to the service's workloads (one line per distinct outcome)
  const seen = new Set<string>();
  for (const p of pods) {
    const text = describePolicies(objects, namespace, p.metadata.labels ?? {}).join('\n');
    if (seen.has(text)) continue;
    seen.add(text);
    if (seen.size > 1) lines.push(`(for ${p.metadata.name})`);
    lines.push(text);
  }
  return lines.join('\n') + '\n';
}

/** `x describe` with its `pod` and `svc` subcommands. */
export function describeCommand(controlPlane: () => string, io: { out: (s: string) => void }): Command {
  const cmd = new Command('describe').description('describe a pod or service: routing, policies and mTLS that apply, as istioctl x describe');
  const fetch = () => getJson<KubeObjectView[]>(controlPlane(), '/debug/configz');
  cmd
    .command('pod')
    .description('the Services selecting the pod, their DestinationRules (matching subsets, TLS), VirtualServices (routes and weights to this pod), Gateways, PeerAuthentication mTLS mode and AuthorizationPolicies')
    .argument('<pod>', 'pod, pod.namespace or namespace/pod')
    .option('-n, --namespace <ns>', 'namespace')
    .action(async (p: string, o: { namespace?: string }) => {
      const r = parsePodRef(p, o.namespace);
      io.out(describePod(await fetch(), r.name, r.namespace ?? o.namespace));
    });
  cmd
    .command('svc')
    .alias('service')
    .description("the service's ports, pods, DestinationRule, VirtualServices (routes and weights), Gateways, PeerAuthentication mTLS mode and AuthorizationPolicies")
    .argument('<svc>', 'service, service.namespace or namespace/service')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action(async (s: string, o: { namespace: string }) => {
      const r = parsePodRef(s);
      io.out(describeService(await fetch(), r.name, r.namespace ?? o.namespace));
    });
  return cmd;
}
