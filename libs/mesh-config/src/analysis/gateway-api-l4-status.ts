/**
 * Status of TLSRoutes and TCPRoutes, as Gateway API defines it: per parent Gateway `Accepted`
 * (`NoMatchingParent`, `NotAllowedByListeners` — no listener of a kind that takes the route, or
 * none admitting its namespace —, `NoMatchingListenerHostname` for a TLSRoute whose hostnames
 * intersect no listener's) and `ResolvedRefs` (`InvalidKind`, `RefNotPermitted`, `BackendNotFound`),
 * and the listener's `attachedRoutes`.
 */
import type { ConfigResource } from '../resource';
import type { KubernetesGatewayObject, TCPRouteObject, TLSRouteObject } from '../types/gateway-api';
import type { ReferenceGranted } from '../gateway-api/reference-grant';
import { listenerAllows } from '../gateway-api/attach';
import { bad, GATEWAY_CONTROLLER, ok, type Condition, type GatewayApiStatus, type ListenerStatus, type RouteParentStatus } from './gateway-api-conditions';
import { hostnameIntersection } from '../gateway-api/precedence';


/** Adds the status of every TLSRoute and TCPRoute to `out`, counting attached routes on `gateways`' listeners. */
export function l4RouteStatus(
  of: (kind: string) => readonly ConfigResource[],
  gateways: ReadonlyMap<string, { r: ConfigResource; gw: KubernetesGatewayObject; listeners: ListenerStatus[] }>,
  granted: ReferenceGranted, labelsOf: (ns: string) => Record<string, string>, out: GatewayApiStatus,
): void {
  const has = (kind: string, ns: string, name: string) => of(kind).some((r) => r.namespace === ns && r.name === name);
  for (const r of [...of('TLSRoute'), ...of('TCPRoute')]) {
    const route = r.object as TLSRouteObject | TCPRouteObject;
    const hostnames = r.kind === 'TLSRoute' ? (route as TLSRouteObject).spec.hostnames : undefined;
    const resolved = ((): Condition => {
      for (const rule of route.spec.rules ?? []) {
        for (const b of rule.backendRefs ?? []) {
          const ns = b.namespace ?? r.namespace;
          if ((b.kind ?? 'Service') !== 'Service' || (b.group ?? '') !== '') return bad('ResolvedRefs', 'InvalidKind', `backendRef ${b.group ?? ''}/${b.kind} ${b.name} is not a Service`);
          if (!granted(r.kind, r.namespace, 'Service', ns, b.name)) return bad('ResolvedRefs', 'RefNotPermitted', `Service ${ns}/${b.name} is in another namespace and no ReferenceGrant there permits it`);
          if (!has('Service', ns, b.name)) return bad('ResolvedRefs', 'BackendNotFound', `Service ${ns}/${b.name} not found`);
        }
      }
      return ok('ResolvedRefs', 'ResolvedRefs');
    })();
    const parents: RouteParentStatus[] = [];
    for (const p of route.spec.parentRefs ?? []) {
      const ns = p.namespace ?? r.namespace;
      const ref = { ...p, namespace: ns };
      const g = (p.kind ?? 'Gateway') === 'Gateway' ? gateways.get(`${ns}/${p.name}`) : undefined;
      let accepted: Condition;
      if (!g) {
        accepted = bad('Accepted', 'NoMatchingParent', `${p.kind ?? 'Gateway'} ${ns}/${p.name} not found`);
      } else {
        const named = g.gw.spec.listeners.map((l, i) => ({ l, s: g.listeners[i] })).filter(({ l }) => (!p.sectionName || l.name === p.sectionName) && (!p.port || l.port === p.port));
        const allowed = named.filter(({ l }) => listenerAllows(l, ns, r.namespace, r.kind, labelsOf));
        const hostOk = allowed.filter(({ l }) => !hostnames?.length || hostnames.some((h) => hostnameIntersection(l.hostname, h) !== undefined));
        if (!named.length) accepted = bad('Accepted', 'NoMatchingParent', `Gateway ${ns}/${p.name} has no listener ${p.sectionName ?? ''}${p.port ? ` on port ${p.port}` : ''}`);
        else if (!allowed.length) accepted = bad('Accepted', 'NotAllowedByListeners', `no listener of Gateway ${ns}/${p.name} takes a ${r.kind} from namespace ${r.namespace}`);
        else if (!hostOk.length) accepted = bad('Accepted', 'NoMatchingListenerHostname', `no listener hostname of Gateway ${ns}/${p.name} intersects ${hostnames!.join(', ')}`);
        else { accepted = ok('Accepted', 'Accepted'); for (const { s } of hostOk) s.attachedRoutes++; }
      }
      parents.push({ parentRef: ref, controllerName: GATEWAY_CONTROLLER, conditions: [accepted, resolved] });
    }
    out.set(r.key, { parents });
  }
}
