/**
 * The status tsmesh's Gateway API controller (`istio.io/gateway-controller`) gives each resource, as
 * Gateway API defines it: GatewayClass `Accepted`; Gateway `Accepted` / `Programmed` and per
 * listener `Accepted` / `ResolvedRefs` / `Conflicted` with `attachedRoutes`; HTTPRoute `parents[]`
 * with `Accepted` / `ResolvedRefs`, each with Gateway API's reason names.
 */
import type { ConfigResource } from '../resource';
import type { GatewayClassObject, HTTPRouteObject, KubernetesGatewayObject } from '../types/gateway-api';
import { gatewayService } from '../gateway-api/deployment';
import { invalidRouteKinds, listenerAllows, namespaceLabels } from '../gateway-api/attach';
import { grpcRouteAsHttpRoute } from '../gateway-api/grpc';
import { referenceGrants, resolveCertificateRef } from '../gateway-api/reference-grant';
import { l4RouteStatus } from './gateway-api-l4-status';
import { bad, GATEWAY_CONTROLLER, ok, type Condition, type GatewayApiStatus, type ListenerStatus, type RouteParentStatus } from './gateway-api-conditions';
import { hostnameIntersection } from '../gateway-api/precedence';
import type { GRPCRouteObject } from '../types/gateway-api';

export type { Condition, GatewayApiStatus, ListenerStatus, RouteParentStatus } from './gateway-api-conditions';
export { GATEWAY_CONTROLLER } from './gateway-api-conditions';
/** Listener protocols tsmesh serves (UDP is not). */
const SERVED_PROTOCOLS = new Set(['HTTP', 'HTTPS', 'TLS', 'TCP']);
const SUPPORTED_FILTERS = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'CORS']);

/** Computes the status of every Gateway API resource of class `istio` in `resources`. */
export function gatewayApiStatus(resources: readonly ConfigResource[]): GatewayApiStatus {
  const out: GatewayApiStatus = new Map();
  const of = (k: string) => resources.filter((r) => r.kind === k);
  const has = (kind: string, ns: string, name: string) => resources.some((r) => r.kind === kind && r.namespace === ns && r.name === name);
  const granted = referenceGrants(of);
  const labelsOf = namespaceLabels(of);
  const classes = new Set(['istio']);
  for (const c of of('GatewayClass')) {
    if ((c.object as GatewayClassObject).spec?.controllerName !== GATEWAY_CONTROLLER) continue;
    classes.add(c.name);
    out.set(c.key, { conditions: [ok('Accepted', 'Accepted', 'Handled by tsmesh')] });
  }
  const gateways = new Map<string, { r: ConfigResource; gw: KubernetesGatewayObject; listeners: ListenerStatus[] }>();
  for (const r of of('KubernetesGateway')) {
    const gw = r.object as KubernetesGatewayObject;
    if (!classes.has(gw.spec.gatewayClassName)) continue;
    const seen = new Map<string, string>();
    const listeners: ListenerStatus[] = gw.spec.listeners.map((l) => {
      const conditions: Condition[] = [];
      if (!SERVED_PROTOCOLS.has(l.protocol)) conditions.push(bad('Accepted', 'UnsupportedProtocol', `protocol ${l.protocol} is not supported`));
      else conditions.push(ok('Accepted', 'Accepted'));
      const key = `${l.port}|${l.hostname ?? ''}`;
      const other = seen.get(key);
      // Plain HTTP, TLS-based (HTTPS, TLS) and TCP listeners cannot share a port.
      const family = (p: string) => (p === 'HTTPS' || p === 'TLS' ? 'tls' : p);
      const clash = gw.spec.listeners.find((o) => o !== l && o.port === l.port && family(o.protocol) !== family(l.protocol));
      if (clash) conditions.push({ type: 'Conflicted', status: 'True', reason: 'ProtocolConflict', message: `listener ${clash.name} uses port ${l.port} with protocol ${clash.protocol}` });
      else if (other) conditions.push({ type: 'Conflicted', status: 'True', reason: 'HostnameConflict', message: `listener ${other} has the same port ${l.port} and hostname` });
      else { seen.set(key, l.name); conditions.push({ type: 'Conflicted', status: 'False', reason: 'NoConflicts', message: '' }); }
      const terminates = l.protocol === 'HTTPS' || (l.protocol === 'TLS' && l.tls?.mode !== 'Passthrough');
      // The certificate: a Secret of the Gateway's namespace, or of another one with a ReferenceGrant there.
      const cert = terminates ? resolveCertificateRef(l, r.namespace, of, granted) : undefined;
      if (cert) {
        conditions.push(cert.ok ? ok('ResolvedRefs', 'ResolvedRefs') : bad('ResolvedRefs', cert.reason, cert.message));
      } else if (invalidRouteKinds(l).length) conditions.push(bad('ResolvedRefs', 'InvalidRouteKinds', `route kinds ${invalidRouteKinds(l).join(', ')} cannot attach to a ${l.protocol} listener`));
      else conditions.push(ok('ResolvedRefs', 'ResolvedRefs'));
      return { name: l.name, attachedRoutes: 0, conditions };
    });
    gateways.set(`${r.namespace}/${r.name}`, { r, gw, listeners });
  }
  for (const r of [...of('HTTPRoute'), ...of('GRPCRoute')]) {
    const route = r.kind === 'GRPCRoute' ? grpcRouteAsHttpRoute(r.object as GRPCRouteObject) : r.object as HTTPRouteObject;
    const parents: RouteParentStatus[] = [];
    const resolved = (() => {
      for (const rule of route.spec.rules ?? []) {
        for (const f of rule.filters ?? []) if (!SUPPORTED_FILTERS.has(f.type)) return bad('ResolvedRefs', 'UnsupportedValue', `filter ${f.type} is not supported`);
        const mirrors = (rule.filters ?? []).flatMap((f) => (f.type === 'RequestMirror' && f.requestMirror ? [f.requestMirror.backendRef] : []));
        for (const b of [...(rule.backendRefs ?? []), ...mirrors]) {
          const ns = b.namespace ?? r.namespace;
          if ((b.kind ?? 'Service') !== 'Service' || (b.group ?? '') !== '') return bad('ResolvedRefs', 'InvalidKind', `backendRef ${b.group ?? ''}/${b.kind} ${b.name} is not a Service`);
          if (!granted(r.kind, r.namespace, 'Service', ns, b.name)) return bad('ResolvedRefs', 'RefNotPermitted', `Service ${ns}/${b.name} is in another namespace and no ReferenceGrant there permits it`);
          if (!has('Service', ns, b.name)) return bad('ResolvedRefs', 'BackendNotFound', `Service ${ns}/${b.name} not found`);
        }
      }
      return ok('ResolvedRefs', 'ResolvedRefs');
    })();
    for (const p of route.spec.parentRefs ?? []) {
      const ns = p.namespace ?? r.namespace;
      const ref = { ...p, namespace: ns };
      let accepted: Condition;
      if (p.kind === 'Service' && (p.group ?? '') === '') {
        // A route in another namespace than its Service is a consumer route (GAMMA): it needs no
        // ReferenceGrant and applies to the callers of its own namespace.
        accepted = has('Service', ns, p.name) ? ok('Accepted', 'Accepted', ns !== r.namespace ? `consumer route: applies to calls from namespace ${r.namespace}` : undefined)
          : bad('Accepted', 'NoMatchingParent', `Service ${ns}/${p.name} not found`);
      } else {
        const g = gateways.get(`${ns}/${p.name}`);
        if (!g) {
          parents.push({ parentRef: ref, controllerName: GATEWAY_CONTROLLER, conditions: [bad('Accepted', 'NoMatchingParent', `Gateway ${ns}/${p.name} not found`), resolved] });
          continue;
        }
        const named = g.gw.spec.listeners.map((l, i) => ({ l, s: g.listeners[i] })).filter(({ l }) => (!p.sectionName || l.name === p.sectionName) && (!p.port || l.port === p.port));
        const allowed = named.filter(({ l }) => listenerAllows(l, ns, r.namespace, r.kind, labelsOf));
        const hostOk = allowed.filter(({ l }) => !route.spec.hostnames?.length || route.spec.hostnames.some((h) => hostnameIntersection(l.hostname, h) !== undefined));
        if (!named.length) accepted = bad('Accepted', 'NoMatchingParent', `Gateway ${ns}/${p.name} has no listener ${p.sectionName ?? ''}${p.port ? ` on port ${p.port}` : ''}`);
        else if (!allowed.length) accepted = bad('Accepted', 'NotAllowedByListeners', `no listener of Gateway ${ns}/${p.name} allows routes from namespace ${r.namespace}`);
        else if (!hostOk.length) accepted = bad('Accepted', 'NoMatchingListenerHostname', `no listener hostname of Gateway ${ns}/${p.name} intersects ${route.spec.hostnames!.join(', ')}`);
        else { accepted = ok('Accepted', 'Accepted'); for (const { s } of hostOk) s.attachedRoutes++; }
      }
      parents.push({ parentRef: ref, controllerName: GATEWAY_CONTROLLER, conditions: [accepted, resolved] });
    }
    out.set(r.key, { parents });
  }
  l4RouteStatus(of, gateways, granted, labelsOf, out);
  for (const [, g] of gateways) {
    const listenerOk = (l: ListenerStatus) => l.conditions.every((c) => (c.type === 'Conflicted' ? c.status === 'False' : c.status === 'True'));
    // The address is that of the Service in front of the Gateway's workloads (the one its
    // spec.addresses names: manual deployment; or the one deployed for it: automated): its load
    // balancer's ingress IPs and hostnames once assigned, else its cluster IP.
    const svc = gatewayService(g.gw, g.r.namespace, of);
    const addresses = serviceAddresses(svc);
    const programmed = !g.listeners.some(listenerOk) ? bad('Programmed', 'Invalid', 'no listener can be programmed')
      : g.gw.spec.addresses?.length && !svc ? bad('Programmed', 'AddressNotUsable', `no Service has the address ${g.gw.spec.addresses.map((a) => a.value).join(', ')}`)
        : !addresses.length ? bad('Programmed', 'AddressNotAssigned', g.gw.spec.addresses?.length ? `Service ${svc!.namespace}/${svc!.name} has no cluster IP` : `the deployment's Service ${g.r.namespace}/${g.r.name}-istio has no address yet`)
          : ok('Programmed', 'Programmed', `address ${addresses[0].value}`);
    out.set(g.r.key, {
      conditions: [ok('Accepted', 'Accepted'), programmed],
      addresses,
      listeners: g.listeners.map((l) => ({ ...l, conditions: [...l.conditions, listenerOk(l) ? ok('Programmed', 'Programmed') : bad('Programmed', 'Invalid', 'listener not programmed')] })),
    });
  }
  return out;
}

/** A Gateway's addresses from its Service: `status.loadBalancer.ingress` (IPs, hostnames), else the cluster IP. */
function serviceAddresses(svc: ConfigResource | undefined): { type: 'IPAddress' | 'Hostname'; value: string }[] {
  const o = svc?.object as { spec?: { clusterIP?: string; type?: string }; status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } } | undefined;
  if (!o) return [];
  type Address = { type: 'IPAddress' | 'Hostname'; value: string };
  const lb = (o.spec?.type === 'LoadBalancer' ? o.status?.loadBalancer?.ingress ?? [] : [])
    .flatMap((i): Address[] => (i.ip ? [{ type: 'IPAddress', value: i.ip }] : i.hostname ? [{ type: 'Hostname', value: i.hostname }] : []));
  if (lb.length) return lb;
  const ip = o.spec?.clusterIP;
  return ip && ip !== 'None' ? [{ type: 'IPAddress', value: ip }] : [];
}
