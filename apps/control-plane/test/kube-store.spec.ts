/**
 * KubeStore against a fake Kubernetes API server (a small local HTTP server standing in for the
 * API server, which cannot run here) serving list and watch payloads in the API server's wire
 * format (test/fixtures/kube): initial list, watch events, a rejected object, reconnect after
 * the watch connection drops, and resync of a deletion the watch missed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { validateConfig, type ConfigResource } from '@tsmesh/mesh-config';
import { KubeStore, kindEndpoints } from '../src/config/kube-store';
import { LastGoodConfig } from '../src/config/last-good';
import { PushContext } from '../src/model/push-context';
import { waitFor } from './helpers';
import { FakeApiServer, NOT_FOUND } from './fake-api-server';

const fx = (f: string) => readFileSync(fileURLToPath(new URL(`./fixtures/kube/${f}`, import.meta.url)), 'utf8');

/** The fake API server: list responses per path, open watch streams per path. */
class StoreApiServer extends FakeApiServer {
  readonly requests: string[] = [];

  constructor() {
    super([
      ['/api/v1/services', fx('services.list.json')],
      ['/apis/discovery.k8s.io/v1/endpointslices', fx('endpointslices.list.json')],
      ['/apis/networking.istio.io/v1/virtualservices', fx('virtualservices.list.json')],
    ]);
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`);
    if (!this.serveList(url, res)) res.writeHead(404, { 'content-type': 'application/json' }).end(NOT_FOUND);
  }
}

describe('KubeStore against a fake Kubernetes API server', () => {
  const api = new StoreApiServer();
  let store: KubeStore;
  const changes: string[][] = [];

  beforeAll(async () => {
    await api.start();
    const kc = api.kubeConfig();
    store = new KubeStore(kc, { kinds: ['Service', 'EndpointSlice', 'VirtualService'], resyncMs: 0, reconnectMs: 50 });
    store.onChange((keys) => changes.push([...keys]));
    await store.start();
  });
  afterAll(async () => {
    await store?.stop();
    await api.stop();
  });

  it('lists every kind on start and builds the registry from the API objects', async () => {
    expect(store.list().map((r) => r.key).sort()).toEqual(['EndpointSlice/default/callme-service-x7k2p', 'Service/default/callme-service']);
    expect(store.list()[0].source.file).toMatch(/^kubernetes:\/\//);
    const push = new PushContext(validateConfig(store.list()).accepted, 'k');
    const eps = push.registry.endpoints.get('callme-service.default.svc.cluster.local');
    expect(eps?.map((e) => `${e.address}:${e.port}`)).toEqual(['10.244.0.21:8091']);
    await waitFor(() => (api.watches.get('/apis/networking.istio.io/v1/virtualservices')?.size ?? 0) > 0, 3000, 'watch open');
  });

  it('applies watch events and reports an invalid object by resource, field and reason', async () => {
    api.send('/apis/networking.istio.io/v1/virtualservices', fx('virtualservice.added.json'));
    await waitFor(() => store.list().some((r) => r.key === 'VirtualService/default/callme-service-route'), 3000, 'VirtualService added');
    api.send('/apis/networking.istio.io/v1/virtualservices', fx('virtualservice.invalid.json'));
    await waitFor(() => store.list().some((r) => r.name === 'typo-route'), 3000, 'second VirtualService');
    const v = validateConfig(store.list());
    expect(v.issues.map((i) => `${i.file}: ${i.resource}: ${i.field}: ${i.reason}`)).toEqual([
      'kubernetes://VirtualService/default/typo-route: VirtualService default/typo-route: spec.http[0].timout: unknown field "timout" (did you mean "timeout"?)',
    ]);
    expect(v.accepted.map((r) => r.name)).toContain('callme-service-route');
  });

  it('a rejected MODIFIED event (weights 0/0, then an unknown field) keeps the last good resourceVersion serving', async () => {
    const path = '/apis/networking.istio.io/v1/virtualservices';
    const lastGood = new LastGoodConfig();
    const validate = (rs: readonly ConfigResource[]) => validateConfig(rs);
    const served = () => lastGood.apply(store.list(), validate);
    const good = served();
    const route = () => good.serve.find((r) => r.key === 'VirtualService/default/callme-service-route');
    expect((route()!.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe('4133');
    // The recorded ADDED event, modified as `kubectl edit` would: new resourceVersion, generation, spec.
    const modified = (rv: string, http: unknown) => {
      const e = JSON.parse(fx('virtualservice.added.json')) as { type: string; object: { metadata: Record<string, unknown>; spec: { http: unknown } } };
      e.type = 'MODIFIED';
      e.object.metadata.resourceVersion = rv;
      e.object.metadata.generation = Number(rv) - 4000;
      e.object.spec.http = http;
      return JSON.stringify(e);
    };
    api.send(path, modified('4140', [{ route: [{ destination: { host: 'callme-service' }, weight: 0 }, { destination: { host: 'callme-service' }, weight: 0 }] }]));
    await waitFor(() => (store.list().find((r) => r.name === 'callme-service-route')?.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion === '4140', 3000, 'MODIFIED seen');
    let v = served();
    const keptRv = (x: typeof v) => (x.serve.find((r) => r.key === 'VirtualService/default/callme-service-route')!.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    expect(keptRv(v)).toBe('4133');
    expect(v.rejected.get('VirtualService/default/callme-service-route')).toBe('kept_last_good');
    const mine = (x: typeof v) => x.issues.filter((i) => i.resource === 'VirtualService default/callme-service-route');
    expect(mine(v).map((i) => i.reason)).toEqual([expect.stringMatching(/^total destination weight is 0: at least one destination needs a weight; kept version from .+ \(resourceVersion 4133\), rejected resourceVersion 4140$/)]);
    api.send(path, modified('4141', [{ route: [{ destination: { host: 'callme-service' } }], timout: '1s' }]));
    await waitFor(() => (store.list().find((r) => r.name === 'callme-service-route')?.object as { metadata: { resourceVersion: string } }).metadata.resourceVersion === '4141', 3000, 'second MODIFIED seen');
    v = served();
    expect(keptRv(v)).toBe('4133');
    expect(mine(v).map((i) => `${i.field}: ${i.reason}`)).toEqual([expect.stringMatching(/^spec\.http\[0\]\.timout: unknown field "timout".*; kept version from .+ \(resourceVersion 4133\), rejected resourceVersion 4141$/)]);
  });

  it('reconnects after the connection drops and keeps receiving events', async () => {
    const path = '/api/v1/services';
    const watchesBefore = api.requests.filter((r) => r === `${path}?watch`).length;
    api.dropAll();
    await waitFor(() => api.requests.filter((r) => r === `${path}?watch`).length > watchesBefore && (api.watches.get(path)?.size ?? 0) > 0, 5000, 'watch reopened');
    expect(api.send(path, fx('service.added.json'))).toBeGreaterThan(0);
    await waitFor(() => store.list().some((r) => r.key === 'Service/default/caller-service'), 3000, 'Service added after reconnect');
  });

  it('resync removes what the watch missed', async () => {
    api.lists.set('/api/v1/services', '{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"4200"},"items":[]}');
    await store.resync();
    expect(store.list().filter((r) => r.kind === 'Service')).toEqual([]);
    expect(changes.some((c) => c.includes('Service/default/callme-service'))).toBe(true);
  });
});

describe('kindEndpoints', () => {
  it('watches Istio kinds at the requested version, and EnvoyFilter at v1alpha3 (the only one Istio serves)', () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'http://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    expect(kindEndpoints(kc, 'VirtualService', 'v1').path).toBe('/apis/networking.istio.io/v1/virtualservices');
    expect(kindEndpoints(kc, 'EnvoyFilter', 'v1')).toMatchObject({ path: '/apis/networking.istio.io/v1alpha3/envoyfilters', apiVersion: 'networking.istio.io/v1alpha3' });
  });
});
