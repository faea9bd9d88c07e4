/** EndpointSlices as the EndpointSlice controller writes them: ready pods selected by a Service, ports resolved per pod. */
import { matchesSelector, resolvePort, type KubeObject, type PodObject, type ServiceObject } from './kube';

/** A pod as the controller sees it. */
export interface EndpointPod {
  object: PodObject;
  ip: string;
  ready: boolean;
}

/** The EndpointSlices of `svc` (one per distinct set of resolved ports), ready endpoints only. Always at least one slice, possibly empty. */
export function endpointSlicesFor(svc: ServiceObject, pods: EndpointPod[]): KubeObject[] {
  const ns = svc.metadata.namespace ?? 'default';
  const selector = svc.spec.selector;
  const groups = new Map<string, { ports: { name: string; port: number; protocol: string; appProtocol?: string }[]; eps: EndpointPod[] }>();
  if (selector && Object.keys(selector).length > 0) {
    for (const p of pods) {
      if ((p.object.metadata.namespace ?? 'default') !== ns || !p.ready) continue;
      if (!matchesSelector({ matchLabels: selector }, p.object.metadata.labels)) continue;
      const ports = (svc.spec.ports ?? []).flatMap((sp) => {
        const port = resolvePort(sp.targetPort ?? sp.port, p.object.spec.containers);
        if (port === undefined) return [];
        const out: { name: string; port: number; protocol: string; appProtocol?: string } = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
        if (sp.appProtocol) out.appProtocol = sp.appProtocol;
        return [out];
      });
      const key = JSON.stringify(ports);
      const g = groups.get(key) ?? { ports, eps: [] };
      g.eps.push(p);
      groups.set(key, g);
    }
  }
  if (groups.size === 0) {
    const ports = (svc.spec.ports ?? []).filter((sp) => typeof (sp.targetPort ?? sp.port) === 'number').map((sp) => ({ name: sp.name ?? '', port: Number(sp.targetPort ?? sp.port), protocol: sp.protocol ?? 'TCP' }));
    groups.set('', { ports, eps: [] });
  }
  let i = 0;
  return [...groups.values()].map((g) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svc.metadata.name}-${i++ === 0 ? 'local' : `local${i - 1}`}`,
      namespace: ns,
      labels: { 'kubernetes.io/service-name': svc.metadata.name ?? '', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: svc.metadata.uid ? [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name ?? '', uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }] : undefined,
    },
    addressType: 'IPv4',
    endpoints: g.eps
      .sort((a, b) => a.ip.localeCompare(b.ip))
      .map((p) => ({
        addresses: [p.ip],
        // The pod's DNS label, when it names this Service as its subdomain (StatefulSet pods do).
        ...(p.object.spec.hostname && p.object.spec.subdomain === svc.metadata.name ? { hostname: p.object.spec.hostname } : {}),
        conditions: { ready: true, serving: true, terminating: false },
        targetRef: { kind: 'Pod', namespace: ns, name: p.object.metadata.name, uid: p.object.metadata.uid },
      })),
    ports: g.ports,
  }));
}
