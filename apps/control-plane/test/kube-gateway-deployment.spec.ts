/* eslint-disable @typescript-eslint/no-explicit-any -- API server payloads are free-form JSON read in tests */
/**
 * Automated Gateway deployment on Kubernetes by the control plane, against a fake API server (a
 * local HTTP server standing in for the API server, which cannot run here) serving recorded
 * payload shapes (test/fixtures/kube: Gateway, GatewayClass and Service lists, a Deployment, a
 * ServiceAccount and a Service as an API server returns them, NotFound and Success Statuses) and
 * recording every write: server-side applies (PATCH, application/apply-patch+yaml, fieldManager,
 * force) of the ServiceAccount, Deployment and Service owned by the Gateway; DELETEs with a uid
 * precondition of what a Gateway that went manual (`spec.addresses`) owned. The whole control
 * plane path runs: KubeStore informers → Discovery rebuild (validation, last good) → controller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gatewayApiStatus } from '@tsmesh/mesh-config';
import { KubeStore } from '../src/config/kube-store';
import { GatewayDeploymentController, GATEWAY_FIELD_MANAGER, KubeDeploymentClient } from '../src/config/gateway-deployments';
import { Discovery } from '../src/server/discovery';
import { waitFor } from './helpers';
import { FakeApiServer } from './fake-api-server';

const fx = (f: string) => readFileSync(fileURLToPath(new URL(`./fixtures/kube/${f}`, import.meta.url)), 'utf8');

interface Req { method: string; path: string; query: Record<string, string>; contentType: string; body: any }

const WEB_UID = '7c2e9a41-5b3d-4f6e-9a8b-1d2c3e4f5a6b';
const EDGE_UID = 'e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9';

class DeploymentApiServer extends FakeApiServer {
  readonly objects = new Map<string, string>([
    ['/apis/apps/v1/namespaces/infra/deployments/edge-istio', fx('deployment.edge-istio.json')],
    ['/api/v1/namespaces/infra/serviceaccounts/edge-istio', fx('serviceaccount.edge-istio.json')],
    ['/api/v1/namespaces/infra/services/edge-istio', fx('service.edge-istio.json')],
  ]);
  readonly requests: Req[] = [];
  failApplies = 0;

  constructor() {
    super([
      ['/api/v1/services', fx('services.deploy.list.json')],
      ['/apis/gateway.networking.k8s.io/v1/gatewayclasses', fx('gatewayclasses.list.json')],
      ['/apis/gateway.networking.k8s.io/v1/gateways', fx('gateways.deploy.list.json')],
    ]);
  }

  /** Sends a watch event to the watchers of `listPath`. */
  event(listPath: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: unknown): void {
    this.send(listPath, JSON.stringify({ type, object }));
  }

  /** Writes to the deployed objects (the status subresource patches the status writer makes are apart). */
  writes = () => this.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/status'));

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const json = (code: number, body: string) => res.writeHead(code, { 'content-type': 'application/json' }).end(body);
      if (req.method === 'GET') {
        if (this.serveList(url, res)) return;
        this.requests.push({ method: 'GET', path: url.pathname, query: {}, contentType: '', body: undefined });
        const obj = this.objects.get(url.pathname);
        return obj ? json(200, obj) : json(404, fx('status.notfound.json'));
      }
      const body = text ? JSON.parse(text) : undefined;
      this.requests.push({ method: req.method!, path: url.pathname, query: Object.fromEntries(url.searchParams), contentType: String(req.headers['content-type']), body });
      if (req.method === 'DELETE') {
        this.objects.delete(url.pathname);
        return json(200, fx('status.deleted.json'));
      }
      if (req.method === 'PATCH') {
        if (this.failApplies > 0 && !url.pathname.endsWith('/status')) {
          this.failApplies--;
          return json(500, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"etcdserver: request timed out","reason":"InternalError","code":500}');
        }
        // The API server answers an apply with the object as stored: server-set metadata added.
        const stored = { ...body, metadata: { ...body.metadata, uid: `uid-${url.pathname.split('/').slice(-2).join('-')}`, resourceVersion: '6001', generation: 1, creationTimestamp: '2026-11-20T09:15:00Z',
          managedFields: [{ manager: url.searchParams.get('fieldManager'), operation: 'Apply', apiVersion: body.apiVersion, time: '2026-11-20T09:15:00Z', fieldsType: 'FieldsV1', fieldsV1: {} }] } };
        return json(200, JSON.stringify(stored));
      }
      json(405, '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"MethodNotAllowed","code":405}');
    });
  }
}

const GATEWAYS = '/apis/gateway.networking.k8s.io/v1/gateways';
const gateway = (name: string) => (JSON.parse(fx('gateways.deploy.list.json')) as { items: any[] }).items.find((g) => g.metadata.name === name);

describe('automated Gateway deployment on Kubernetes (fake API server, recorded payload shapes)', () => {
  const api = new DeploymentApiServer();
  let store: KubeStore;
  let discovery: Discovery;
  let controller: GatewayDeploymentController;
  const logged: string[] = [];

  beforeAll(async () => {
    await api.start();
    const kc = api.kubeConfig();
    store = new KubeStore(kc, { kinds: ['Service', 'GatewayClass', 'KubernetesGateway'], resyncMs: 0, reconnectMs: 50 });
    controller = new GatewayDeploymentController(new KubeDeploymentClient(kc), {
      image: 'registry.example.com/tsmesh/proxy:1.2.3', discoveryAddress: 'istiod.istio-system.svc:15010', retryMs: 0, reapplyMs: 0,
    }, (m, err) => logged.push(err ? `${m}: ${(err as Error).message}` : m));
    discovery = new Discovery({ stores: [store], gatewayDeployments: controller, debounceMs: 20, debounceMaxMs: 200 });
    await discovery.start();
    await discovery.gatewayDeploymentsApplied();
  });
  afterAll(async () => {
    await discovery?.stop();
    await api.stop();
  });

  it('server-side applies the ServiceAccount, Deployment and Service of a class-istio Gateway, owned by it, under the named field manager', () => {
    const applies = api.writes().filter((w) => w.method === 'PATCH');
    expect(applies.map((w) => w.path)).toEqual([
      '/api/v1/namespaces/shop/serviceaccounts/web-istio',
      '/apis/apps/v1/namespaces/shop/deployments/web-istio',
      '/api/v1/namespaces/shop/services/web-istio',
    ]);
    for (const w of applies) {
      expect(w.contentType).toBe('application/apply-patch+yaml');
      expect(w.query).toEqual({ fieldManager: GATEWAY_FIELD_MANAGER, force: 'true' });
      expect(w.body.metadata).toMatchObject({ name: 'web-istio', namespace: 'shop' });
      expect(w.body.metadata.ownerReferences).toEqual([{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: 'web', uid: WEB_UID, controller: true, blockOwnerDeletion: true }]);
      // spec.infrastructure labels and annotations on every object.
      expect(w.body.metadata.labels).toMatchObject({ 'gateway.networking.k8s.io/gateway-name': 'web', 'istio.io/gateway-name': 'web', 'cost-center': 'retail' });
      expect(w.body.metadata.annotations).toEqual({ 'team.example.com/owner': 'shop' });
    }
    expect(GATEWAY_FIELD_MANAGER).toBe('istio.io/gateway-controller');
    const [sa, dep, svc] = applies.map((w) => w.body);
    expect([sa.apiVersion, sa.kind, dep.apiVersion, dep.kind, svc.apiVersion, svc.kind]).toEqual(['v1', 'ServiceAccount', 'apps/v1', 'Deployment', 'v1', 'Service']);
    const pod = dep.spec.template;
    expect(pod.metadata.labels).toMatchObject({ 'gateway.networking.k8s.io/gateway-name': 'web', 'istio.io/gateway-name': 'web', 'cost-center': 'retail', 'sidecar.istio.io/inject': 'false' });
    expect(pod.metadata.annotations['team.example.com/owner']).toBe('shop');
    const c = pod.spec.containers[0];
    expect(c.image).toBe('registry.example.com/tsmesh/proxy:1.2.3');
    expect(c.args.slice(0, 2)).toEqual(['proxy', 'router']);
    expect(c.env.find((e: { name: string }) => e.name === 'DISCOVERY_ADDRESS').value).toBe('istiod.istio-system.svc:15010');
    expect(c.ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([8080, 8443, 15021, 15090]);
    expect(pod.spec.serviceAccountName).toBe('web-istio');
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.selector).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'web' });
    expect(svc.spec.ports.map((p: { port: number; targetPort: number }) => `${p.port}->${p.targetPort}`)).toEqual(['15021->15021', '80->8080', '443->8443']);
  });

  it('provisions nothing for a Gateway with spec.addresses (manual) and deletes only what it controlled; nothing for another class', () => {
    expect(api.writes().some((w) => w.path.includes('/edge-istio') && w.method === 'PATCH')).toBe(false);
    expect(api.writes().some((w) => w.path.includes('/other-istio'))).toBe(false);
    const deletes = api.writes().filter((w) => w.method === 'DELETE');
    expect(deletes.map((w) => w.path)).toEqual(['/api/v1/namespaces/infra/services/edge-istio', '/apis/apps/v1/namespaces/infra/deployments/edge-istio']);
    expect(deletes.map((w) => w.body)).toEqual([
      { preconditions: { uid: '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901' }, propagationPolicy: 'Background' },
      { preconditions: { uid: '3f2e1d0c-b9a8-4765-8432-10fedcba9876' }, propagationPolicy: 'Background' },
    ]);
    // The same-named ServiceAccount has no Gateway owner: it stays.
    expect(api.requests.some((r) => r.method === 'GET' && r.path === '/api/v1/namespaces/infra/serviceaccounts/edge-istio')).toBe(true);
    expect(api.objects.has('/api/v1/namespaces/infra/serviceaccounts/edge-istio')).toBe(true);
    expect(logged.filter((l) => l.includes('deleted'))).toEqual([
      `Gateway infra/edge binds to an existing deployment or is not ours: deleted Service infra/edge-istio`,
      `Gateway infra/edge binds to an existing deployment or is not ours: deleted Deployment infra/edge-istio`,
    ]);
    expect(EDGE_UID).toBe(gateway('edge').metadata.uid);
  });

  it("the Gateway's status address is its Service's load balancer ingress", () => {
    const s = gatewayApiStatus(store.list()).get('KubernetesGateway/shop/web')!;
    expect(s.addresses).toEqual([{ type: 'IPAddress', value: '172.18.255.200' }]);
    expect(s.conditions!.find((c) => c.type === 'Programmed')).toMatchObject({ status: 'True', reason: 'Programmed' });
  });

  it('an unchanged Gateway is not applied again; a listener change applies the new ports', async () => {
    const n = api.writes().length;
    await controller.update(store.list());
    expect(api.writes().length).toBe(n);
    const web = gateway('web');
    web.metadata.resourceVersion = '5200';
    web.metadata.generation = 2;
    web.spec.listeners = [web.spec.listeners[0], { name: 'admin', port: 9080, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } }];
    api.event(GATEWAYS, 'MODIFIED', web);
    await waitFor(() => api.writes().length >= n + 3, 5000, 'the re-apply');
    await discovery.gatewayDeploymentsApplied();
    const again = api.writes().slice(n);
    expect(again.map((w) => `${w.method} ${w.path}`)).toEqual([
      'PATCH /api/v1/namespaces/shop/serviceaccounts/web-istio',
      'PATCH /apis/apps/v1/namespaces/shop/deployments/web-istio',
      'PATCH /api/v1/namespaces/shop/services/web-istio',
    ]);
    expect(again[2].body.spec.ports.map((p: { port: number; targetPort: number }) => `${p.port}->${p.targetPort}`)).toEqual(['15021->15021', '80->8080', '9080->9080']);
    expect(again[1].body.spec.template.spec.containers[0].ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([8080, 9080, 15021, 15090]);
  });

  it('a bad service-type annotation is refused with the field named; a failed apply is logged and retried', async () => {
    const web = gateway('web');
    web.metadata.resourceVersion = '5300';
    web.metadata.annotations['networking.istio.io/service-type'] = 'Sideways';
    let n = api.writes().length;
    api.event(GATEWAYS, 'MODIFIED', web);
    await waitFor(() => logged.some((l) => l.includes('Sideways')), 5000, 'the refusal');
    expect(logged.find((l) => l.includes('Sideways'))).toBe('Gateway shop/web is not deployed: Gateway shop/web: metadata.annotations[networking.istio.io/service-type] "Sideways" is not one of LoadBalancer, NodePort, ClusterIP');
    expect(api.writes().length).toBe(n);
    web.metadata.resourceVersion = '5301';
    web.metadata.annotations['networking.istio.io/service-type'] = 'NodePort';
    api.failApplies = 1;
    n = api.writes().length;
    api.event(GATEWAYS, 'MODIFIED', web);
    await waitFor(() => logged.some((l) => l.startsWith('deploying Gateway shop/web failed')), 5000, 'the failure');
    await discovery.gatewayDeploymentsApplied();
    expect(api.writes().length).toBe(n + 1);
    await controller.update(store.list());
    const retried = api.writes().slice(n + 1);
    expect(retried.map((w) => w.path.split('/').at(-2))).toEqual(['serviceaccounts', 'deployments', 'services']);
    expect(retried[2].body.spec.type).toBe('NodePort');
  });

  it('the periodic re-apply applies every deployed Gateway again (restoring what was changed by hand)', async () => {
    const n = api.writes().length;
    await controller.reapply();
    const again = api.writes().slice(n);
    expect(again.map((w) => `${w.method} ${w.path}`)).toEqual([
      'PATCH /api/v1/namespaces/shop/serviceaccounts/web-istio',
      'PATCH /apis/apps/v1/namespaces/shop/deployments/web-istio',
      'PATCH /api/v1/namespaces/shop/services/web-istio',
    ]);
    expect(again.every((w) => w.query.fieldManager === GATEWAY_FIELD_MANAGER && w.query.force === 'true')).toBe(true);
  });

  it("a deleted Gateway is left to the garbage collector (its objects' ownerReferences): no calls", async () => {
    const n = api.requests.length;
    api.event(GATEWAYS, 'DELETED', gateway('web'));
    await waitFor(() => !store.list().some((r) => r.key === 'KubernetesGateway/shop/web'), 5000, 'the delete seen');
    await discovery.gatewayDeploymentsApplied();
    await controller.update(store.list());
    expect(api.requests.length).toBe(n);
  });
});
