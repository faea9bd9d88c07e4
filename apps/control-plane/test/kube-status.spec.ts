/**
 * Gateway API status written to the Kubernetes status subresource, against a fake API server (a
 * local HTTP server standing in for the API server, which cannot run here) that serves list
 * payloads in the API server's wire format (test/fixtures/kube: Gateway API lists as an API server
 * with the standard-channel CRDs returns them, with the `Pending` status the CRDs default) and
 * records every write: JSON merge patches of `status` on `…/<plural>/<name>/status` at the version
 * the object was read at, for namespaced and cluster-scoped kinds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KubeStore } from '../src/config/kube-store';
import { GatewayStatusWriter } from '../src/config/gateway-status';
import { FakeApiServer, NOT_FOUND } from './fake-api-server';

const fx = (f: string) => readFileSync(fileURLToPath(new URL(`./fixtures/kube/${f}`, import.meta.url)), 'utf8');

interface Write { method: string; path: string; contentType: string; body: { status: Record<string, unknown> } }

class StatusApiServer extends FakeApiServer {
  readonly writes: Write[] = [];
  failNext = 0;

  constructor() {
    super([
      ['/api/v1/services', fx('services.gateway-api.list.json')],
      ['/apis/gateway.networking.k8s.io/v1/gatewayclasses', fx('gatewayclasses.list.json')],
      ['/apis/gateway.networking.k8s.io/v1/gateways', fx('gateways.list.json')],
      ['/apis/gateway.networking.k8s.io/v1/httproutes', fx('httproutes.list.json')],
    ]);
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'PATCH') {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        if (this.failNext > 0) {
          this.failNext--;
          res.writeHead(409, { 'content-type': 'application/json' }).end('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409}');
          return;
        }
        const body = JSON.parse(text) as Write['body'];
        this.writes.push({ method: req.method!, path: url.pathname, contentType: String(req.headers['content-type']), body });
        // The API server answers with the whole object, status replaced.
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: url.pathname.split('/').at(-2) }, status: body.status }));
      });
      return;
    }
    if (!this.serveList(url, res)) res.writeHead(404, { 'content-type': 'application/json' }).end(NOT_FOUND);
  }
}

type Cond = { type: string; status: string; reason: string; observedGeneration?: number; lastTransitionTime: string };

describe('Gateway API status on the Kubernetes status subresource (fake API server, recorded payload shapes)', () => {
  const api = new StatusApiServer();
  let store: KubeStore;
  const logged: string[] = [];
  let writer: GatewayStatusWriter;

  beforeAll(async () => {
    await api.start();
    const kc = api.kubeConfig();
    store = new KubeStore(kc, { kinds: ['Service', 'GatewayClass', 'KubernetesGateway', 'HTTPRoute'], resyncMs: 0, reconnectMs: 50 });
    await store.start();
    writer = new GatewayStatusWriter([store], (m) => logged.push(m), () => '2026-11-20T09:15:00Z');
  });
  afterAll(async () => {
    await store?.stop();
    await api.stop();
  });

  it('patches each resource status subresource with Gateway API conditions, the address and observedGeneration', async () => {
    await writer.update(store.list());
    const byPath = new Map(api.writes.map((w) => [w.path, w]));
    expect([...byPath.keys()].sort()).toEqual([
      '/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio/status',
      '/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/todolist-gateway/status',
      '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/todolist/status',
    ]);
    for (const w of api.writes) {
      expect(w.method).toBe('PATCH');
      expect(w.contentType).toBe('application/merge-patch+json');
    }
    const gw = byPath.get('/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/todolist-gateway/status')!.body.status;
    expect(gw.addresses).toEqual([{ type: 'IPAddress', value: '10.96.0.57' }]);
    expect((gw.conditions as Cond[]).map((c) => `${c.type}=${c.status}/${c.reason}@${c.observedGeneration} ${c.lastTransitionTime}`)).toEqual([
      'Accepted=True/Accepted@2 2026-11-20T09:15:00Z', 'Programmed=True/Programmed@2 2026-11-20T09:15:00Z',
    ]);
    expect((gw.listeners as { name: string; attachedRoutes: number }[]).map((l) => `${l.name}:${l.attachedRoutes}`)).toEqual(['http:1']);
    const route = byPath.get('/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/todolist/status')!.body.status;
    const parent = (route.parents as { parentRef: Record<string, unknown>; controllerName: string; conditions: Cond[] }[])[0];
    expect(parent.parentRef).toEqual({ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'todolist-gateway', namespace: 'default' });
    expect(parent.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']);
    const cls = byPath.get('/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio/status')!.body.status;
    expect((cls.conditions as Cond[]).map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Accepted=True/Accepted']);
  });

  it('writes nothing when the status is unchanged; a failed write is logged and retried on the next update', async () => {
    const n = api.writes.length;
    await writer.update(store.list());
    expect(api.writes.length).toBe(n);
    const fresh = new GatewayStatusWriter([store], (m) => logged.push(m));
    api.failNext = 1;
    await fresh.update(store.list());
    expect(logged.some((l) => /writing the status of .* failed/.test(l))).toBe(true);
    const after = api.writes.length;
    await fresh.update(store.list());
    expect(api.writes.length).toBe(after + 1);
  });
});
