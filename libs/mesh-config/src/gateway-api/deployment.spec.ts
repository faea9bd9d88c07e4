import { describe, expect, it } from 'vitest';
import { containerPortFor, gatewayDeployment, isAutomatedGateway } from './deployment';
import type { KubernetesGatewayObject } from '../types/gateway-api';

const gw = (extra: Partial<KubernetesGatewayObject['spec']> = {}): KubernetesGatewayObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway',
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1' },
  spec: {
    gatewayClassName: 'istio',
    listeners: [
      { name: 'http', port: 80, protocol: 'HTTP' },
      { name: 'http-b', port: 80, protocol: 'HTTP', hostname: 'b.example.com' },
      { name: 'https', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'cert' }] } },
      { name: 'high', port: 9080, protocol: 'HTTP' },
    ],
    ...extra,
  },
} as KubernetesGatewayObject);

describe('automated Gateway deployment', () => {
  it('deploys class istio without addresses; not with addresses (manual) or another class', () => {
    expect(isAutomatedGateway(gw())).toBe(true);
    expect(isAutomatedGateway(gw({ addresses: [{ type: 'Hostname', value: 'istio-ingressgateway.istio-system.svc.cluster.local' }] }))).toBe(false);
    expect(isAutomatedGateway(gw({ gatewayClassName: 'other' }))).toBe(false);
    expect(isAutomatedGateway(gw({ gatewayClassName: 'mine' }), [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'mine' }, spec: { controllerName: 'istio.io/gateway-controller' } }])).toBe(true);
  });

  it('a ServiceAccount, a router Deployment and a Service with each listener port once, all owned by the Gateway', () => {
    const [sa, dep, svc] = gatewayDeployment(gw());
    for (const o of [sa, dep, svc]) {
      expect(o.metadata.name).toBe('web-istio');
      expect(o.metadata.namespace).toBe('shop');
      expect(o.metadata.ownerReferences).toEqual([{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'web', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
    }
    expect([sa.kind, dep.kind, svc.kind]).toEqual(['ServiceAccount', 'Deployment', 'Service']);
    const spec = svc.spec as { selector: Record<string, string>; ports: { name: string; port: number; targetPort: number }[] };
    expect(spec.selector).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'web' });
    expect(spec.ports.map((p) => [p.name, p.port, p.targetPort])).toEqual([['status-port', 15021, 15021], ['http-80', 80, 8080], ['https-443', 443, 8443], ['http-9080', 9080, 9080]]);
    const pod = (dep.spec as { template: { metadata: { labels: Record<string, string> }; spec: { containers: { args: string[]; ports: { containerPort: number }[]; env: { name: string; value?: string }[] }[]; serviceAccountName: string } } }).template;
    expect(pod.metadata.labels['gateway.networking.k8s.io/gateway-name']).toBe('web');
    expect(pod.metadata.labels['sidecar.istio.io/inject']).toBe('false');
    expect(pod.spec.serviceAccountName).toBe('web-istio');
    expect(pod.spec.containers[0].args.slice(0, 2)).toEqual(['proxy', 'router']);
    expect(pod.spec.containers[0].ports.map((p) => p.containerPort)).toEqual([8080, 8443, 9080, 15021, 15090]);
    expect(pod.spec.containers[0].env.find((e) => e.name === 'ISTIO_META_WORKLOAD_NAME')?.value).toBe('web-istio');
  });

  it('a LoadBalancer Service unless networking.istio.io/service-type says otherwise; a bad type is refused naming the annotation', () => {
    expect((gatewayDeployment(gw())[2].spec as { type: string }).type).toBe('LoadBalancer');
    const typed = (t: string) => { const g = gw(); g.metadata!.annotations = { 'networking.istio.io/service-type': t }; return g; };
    expect((gatewayDeployment(typed('ClusterIP'))[2].spec as { type: string }).type).toBe('ClusterIP');
    expect((gatewayDeployment(typed('NodePort'))[2].spec as { type: string }).type).toBe('NodePort');
    expect(() => gatewayDeployment(typed('ExternalName'))).toThrow('Gateway shop/web: metadata.annotations[networking.istio.io/service-type] "ExternalName" is not one of LoadBalancer, NodePort, ClusterIP');
  });

  it('spec.infrastructure labels and annotations go on every object and the pods; the controller labels win', () => {
    const objs = gatewayDeployment(gw({ infrastructure: { labels: { team: 'web', 'istio.io/gateway-name': 'spoof' }, annotations: { 'example.com/owner': 'web' } } }));
    for (const o of objs) {
      expect(o.metadata.labels).toMatchObject({ team: 'web', 'istio.io/gateway-name': 'web' });
      expect(o.metadata.annotations).toEqual({ 'example.com/owner': 'web' });
    }
    const pod = (objs[1].spec as { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } }).template.metadata;
    expect(pod.labels).toMatchObject({ team: 'web', 'gateway.networking.k8s.io/gateway-name': 'web' });
    expect(pod.annotations).toMatchObject({ 'example.com/owner': 'web', 'prometheus.io/scrape': 'true' });
    expect(gatewayDeployment(gw())[0].metadata.annotations).toBeUndefined();
  });

  it('moves privileged ports up by 8000 and refuses a Gateway without a uid', () => {
    expect([80, 443, 1023, 1024, 8080].map(containerPortFor)).toEqual([8080, 8443, 9023, 1024, 8080]);
    const g = gw();
    delete g.metadata!.uid;
    expect(() => gatewayDeployment(g)).toThrow(/shop\/web has no metadata\.uid/);
  });
});
