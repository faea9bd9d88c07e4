/**
 * The service registry: Services with their EndpointSlices (Pods for labels, service accounts and
 * readiness) and ServiceEntries, as Istio's Kubernetes and ServiceEntry registries build them.
 * Pure: built from a list of accepted resources.
 */
import {
  protocolOfServicePort, parseProtocol, resolveHost, type ConfigResource, type EndpointSlice, type Pod, type Protocol,
  type Service, type ServiceEntrySpec,
} from '@tsmesh/mesh-config';

/** One port of a service. */
export interface ServicePortModel {
  name: string;
  port: number;
  /** Container port (number) or its name; ServiceEntry ports may set it too. */
  targetPort?: number | string;
  protocol: Protocol;
}

/** A service: a Kubernetes Service or one host of a ServiceEntry. */
export interface ServiceModel {
  hostname: string;
  name: string;
  namespace: string;
  /** Cluster IP (or the ServiceEntry's first address). */
  vip?: string;
  ports: ServicePortModel[];
  selector?: Record<string, string>;
  source: 'kubernetes' | 'serviceentry';
  /** How the cluster finds endpoints: EDS from the registry, DNS (STRICT_DNS), or the original destination. */
  resolution: 'EDS' | 'DNS' | 'PASSTHROUGH';
  external: boolean;
  exportTo?: string[];
}

/** One endpoint of one service port. */
export interface EndpointModel {
  address: string;
  /** Port to connect to (the target port). */
  port: number;
  servicePort: number;
  labels: Record<string, string>;
  serviceAccount?: string;
  namespace: string;
  podName?: string;
  ready: boolean;
  /** The workload runs a sidecar (pod label `security.istio.io/tlsMode: istio` or sidecar status annotation). */
  sidecar: boolean;
  zone?: string;
}

/** Registry snapshot. */
export interface Registry {
  services: ServiceModel[];
  byHost: Map<string, ServiceModel>;
  /** hostname → endpoints of every port. */
  endpoints: Map<string, EndpointModel[]>;
  podsByIp: Map<string, Pod>;
  podsByKey: Map<string, Pod>;
  /** Endpoints by address, with the service they belong to. */
  endpointsByIp: Map<string, { svc: ServiceModel; ep: EndpointModel }[]>;
  /** Kubernetes services by namespace. */
  servicesByNamespace: Map<string, ServiceModel[]>;
}

const obj = <T>(r: ConfigResource): T => r.object as T;

/** True when `labels` has every key/value of `selector` (an empty selector matches nothing here). */
export function selectorMatches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const keys = Object.keys(selector);
  if (keys.length === 0) return false;
  return keys.every((k) => labels?.[k] === selector[k]);
}

/** True when a pod runs a sidecar. */
export function podHasSidecar(p: Pod | undefined): boolean {
  if (!p) return false;
  return p.metadata?.labels?.['security.istio.io/tlsMode'] === 'istio' || !!p.metadata?.annotations?.['sidecar.istio.io/status'];
}

function containerPort(pod: Pod | undefined, name: string): number | undefined {
  for (const c of pod?.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === name) return p.containerPort;
  return undefined;
}

/** Builds the registry from accepted resources. */
export function buildRegistry(resources: readonly ConfigResource[], domain = 'cluster.local'): Registry {
  const services: ServiceModel[] = [];
  const byHost = new Map<string, ServiceModel>();
  const endpoints = new Map<string, EndpointModel[]>();
  const podsByIp = new Map<string, Pod>();
  const podsByKey = new Map<string, Pod>();
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  const kubeServices: { svc: Service; model: ServiceModel }[] = [];

  for (const r of resources) {
    if (r.kind === 'Pod') {
      const p = obj<Pod>(r);
      podsByKey.set(`${r.namespace}/${r.name}`, p);
      const ip = p.status?.podIP;
      if (ip) podsByIp.set(ip, p);
    } else if (r.kind === 'EndpointSlice') {
      const s = obj<EndpointSlice>(r);
      const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const k = `${r.namespace}/${svc}`;
      const list = slicesBySvc.get(k) ?? [];
      list.push(s);
      slicesBySvc.set(k, list);
    }
  }

  for (const r of resources) {
    if (r.kind === 'Service') {
      const svc = obj<Service>(r);
      const hostname = `${r.name}.${r.namespace}.svc.${domain}`;
      const cip = svc.spec?.clusterIP;
      const model: ServiceModel = {
        hostname, name: r.name, namespace: r.namespace,
        vip: cip && cip !== 'None' ? cip : undefined,
        ports: (svc.spec?.ports ?? []).map((p) => ({
          name: p.name ?? '', port: p.port, targetPort: p.targetPort as number | string | undefined, protocol: protocolOfServicePort(p),
        })),
        selector: svc.spec?.selector,
        source: 'kubernetes',
        // A headless Service (clusterIP None) has no VIP: as in Istio, its clients' sidecars send a
        // connection to the pod IP the name resolved to (ORIGINAL_DST), so per-pod names work.
        resolution: svc.spec?.type === 'ExternalName' ? 'DNS' : cip === 'None' ? 'PASSTHROUGH' : 'EDS',
        external: false,
        exportTo: svc.metadata?.annotations?.['networking.istio.io/exportTo']?.split(',').map((s) => s.trim()),
      };
      services.push(model);
      byHost.set(hostname, model);
      kubeServices.push({ svc, model });
    } else if (r.kind === 'ServiceEntry') {
      const se = obj<{ spec: ServiceEntrySpec }>(r).spec;
      for (const h of se.hosts ?? []) {
        const hostname = resolveHost(h, r.namespace, domain);
        if (byHost.has(hostname)) continue;
        const resolution = se.resolution === 'DNS' || se.resolution === 'DNS_ROUND_ROBIN' ? 'DNS' : se.resolution === 'STATIC' ? 'EDS' : 'PASSTHROUGH';
        const model: ServiceModel = {
          hostname, name: hostname, namespace: r.namespace,
          vip: se.addresses?.[0],
          ports: (se.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.number, targetPort: p.targetPort, protocol: parseProtocol(p.protocol) })),
          source: 'serviceentry', resolution, external: se.location !== 'MESH_INTERNAL', exportTo: se.exportTo,
          selector: se.workloadSelector?.labels,
        };
        services.push(model);
        byHost.set(hostname, model);
        const eps: EndpointModel[] = [];
        const inline = se.endpoints ?? (resolution === 'DNS' && !se.workloadSelector ? [{ address: hostname }] : []);
        for (const we of inline) {
          for (const sp of model.ports) {
            eps.push({
              address: we.address ?? hostname, port: we.ports?.[sp.name] ?? (typeof sp.targetPort === 'number' ? sp.targetPort : sp.port),
              servicePort: sp.port, labels: we.labels ?? {}, serviceAccount: we.serviceAccount, namespace: r.namespace,
              ready: true, sidecar: !model.external && !!we.serviceAccount, zone: we.locality,
            });
          }
        }
        if (se.workloadSelector?.labels) {
          for (const [key, pod] of podsByKey) {
            if (!pod.status?.podIP || !selectorMatches(se.workloadSelector.labels, pod.metadata?.labels)) continue;
            for (const sp of model.ports) {
              eps.push({
                address: pod.status.podIP, port: typeof sp.targetPort === 'number' ? sp.targetPort : sp.port, servicePort: sp.port,
                labels: pod.metadata?.labels ?? {}, serviceAccount: pod.spec?.serviceAccountName, namespace: key.split('/')[0],
                podName: pod.metadata?.name, ready: isPodReady(pod), sidecar: podHasSidecar(pod),
              });
            }
          }
        }
        endpoints.set(hostname, eps);
      }
    }
  }

  for (const { model } of kubeServices) {
    const eps: EndpointModel[] = [];
    const slices = slicesBySvc.get(`${model.namespace}/${model.name}`);
    if (slices?.length) {
      for (const slice of slices) {
        for (const e of slice.endpoints ?? []) {
          const ref = e.targetRef?.kind === 'Pod' ? podsByKey.get(`${e.targetRef.namespace ?? model.namespace}/${e.targetRef.name}`) : undefined;
          for (const addr of e.addresses ?? []) {
            const pod = ref ?? podsByIp.get(addr);
            for (const sp of slice.ports ?? []) {
              const svcPort = model.ports.find((p) => (p.name || '') === (sp.name ?? '')) ?? (model.ports.length === 1 ? model.ports[0] : undefined);
              if (!svcPort || sp.port === undefined) continue;
              eps.push({
                address: addr, port: sp.port, servicePort: svcPort.port, labels: pod?.metadata?.labels ?? {},
                serviceAccount: pod?.spec?.serviceAccountName, namespace: model.namespace, podName: pod?.metadata?.name ?? e.targetRef?.name,
                ready: e.conditions?.ready !== false, sidecar: podHasSidecar(pod), zone: e.zone,
              });
            }
          }
        }
      }
    } else if (model.selector) {
      // No EndpointSlices (yet): select Pods directly, as the EndpointSlice controller would.
      for (const pod of podsByKey.values()) {
        if (pod.metadata?.namespace !== model.namespace || !pod.status?.podIP || !selectorMatches(model.selector, pod.metadata?.labels)) continue;
        for (const sp of model.ports) {
          const port = typeof sp.targetPort === 'number' ? sp.targetPort : typeof sp.targetPort === 'string' ? (containerPort(pod, sp.targetPort) ?? Number(sp.targetPort)) : sp.port;
          if (!Number.isInteger(port)) continue;
          eps.push({
            address: pod.status.podIP, port, servicePort: sp.port, labels: pod.metadata?.labels ?? {},
            serviceAccount: pod.spec?.serviceAccountName, namespace: model.namespace, podName: pod.metadata?.name,
            ready: isPodReady(pod), sidecar: podHasSidecar(pod),
          });
        }
      }
    }
    endpoints.set(model.hostname, eps);
  }

  services.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  const endpointsByIp = new Map<string, { svc: ServiceModel; ep: EndpointModel }[]>();
  const servicesByNamespace = new Map<string, ServiceModel[]>();
  for (const svc of services) {
    for (const ep of endpoints.get(svc.hostname) ?? []) {
      const l = endpointsByIp.get(ep.address) ?? [];
      l.push({ svc, ep });
      endpointsByIp.set(ep.address, l);
    }
    if (svc.source === 'kubernetes') {
      const l = servicesByNamespace.get(svc.namespace) ?? [];
      l.push(svc);
      servicesByNamespace.set(svc.namespace, l);
    }
  }
  return { services, byHost, endpoints, podsByIp, podsByKey, endpointsByIp, servicesByNamespace };
}

/** A pod is ready when its Ready condition is True (or, with no conditions, when it is Running). */
export function isPodReady(p: Pod): boolean {
  const c = p.status?.conditions?.find((x) => x.type === 'Ready');
  if (c) return c.status === 'True';
  return p.status?.phase === undefined || p.status.phase === 'Running';
}
