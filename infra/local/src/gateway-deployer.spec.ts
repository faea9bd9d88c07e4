import { describe, expect, it } from 'vitest';
import { GATEWAY_API_GATEWAY, GatewayDeployer, storeKind } from './gateway-deployer';
import { keyOf, type KubeObject } from './kube';

/** An object store standing in for the runtime's (apply / delete / list by kind). */
function store() {
  const objs = new Map<string, KubeObject>();
  const lines: string[] = [];
  const deployer = new GatewayDeployer({
    apply: async (os) => { for (const o of os) objs.set(`${storeKind(o)}|${keyOf(o)}`, o); return []; },
    delete: async (kind, key) => { objs.delete(`${kind}|${key}`); },
    list: (kind) => [...objs.entries()].filter(([k]) => k.startsWith(`${kind}|`)).map(([, o]) => o),
    log: (l) => lines.push(l),
  });
  const add = (o: KubeObject) => objs.set(`${storeKind(o)}|${keyOf(o)}`, o);
  return { objs, deployer, add, lines };
}

const gateway = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'web', namespace: 'shop', uid: 'g-1' }, spec: { gatewayClassName: 'istio', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }], ...spec } });

describe('Gateway deployment controller (local runtime)', () => {
  it('keeps Gateway API Gateways apart from Istio Gateways', () => {
    expect(storeKind({ kind: 'Gateway', apiVersion: 'gateway.networking.k8s.io/v1' })).toBe(GATEWAY_API_GATEWAY);
    expect(storeKind({ kind: 'Gateway', apiVersion: 'networking.istio.io/v1' })).toBe('Gateway');
  });

  it('deploys a Gateway of class istio, follows its listeners, and removes what it owns when it binds to addresses or is deleted', async () => {
    const s = store();
    const gw = gateway({});
    s.add(gw);
    await s.deployer.reconcile(gw);
    expect([...s.objs.keys()].sort()).toEqual(['Deployment|shop/web-istio', `${GATEWAY_API_GATEWAY}|shop/web`, 'Service|shop/web-istio', 'ServiceAccount|shop/web-istio'].sort());
    const more = gateway({ listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'https', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'c' }] } }] });
    await s.deployer.reconcile(more);
    expect((s.objs.get('Service|shop/web-istio')!.spec as { ports: { port: number }[] }).ports.map((p) => p.port)).toEqual([15021, 80, 443]);
    // Something else of the same kind, not owned by the Gateway, is left alone.
    s.add({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'other', namespace: 'shop' }, spec: {} });
    await s.deployer.reconcile(gateway({ addresses: [{ type: 'Hostname', value: 'istio-ingressgateway.istio-system.svc.cluster.local' }] }));
    expect([...s.objs.keys()].sort()).toEqual([`${GATEWAY_API_GATEWAY}|shop/web`, 'Service|shop/other']);
    await s.deployer.reconcile(gw);
    expect(s.deployer.owned('g-1').map((o) => o.kind).sort()).toEqual(['Deployment', 'Service', 'ServiceAccount']);
    await s.deployer.remove(gw);
    expect(s.deployer.owned('g-1')).toEqual([]);
    expect(s.lines.some((l) => /removed Deployment shop\/web-istio/.test(l))).toBe(true);
  });

  it('does not deploy a Gateway of another class', async () => {
    const s = store();
    await s.deployer.reconcile(gateway({ gatewayClassName: 'other' }));
    expect([...s.objs.keys()]).toEqual([]);
  });
});
