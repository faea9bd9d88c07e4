/**
 * GAMMA consumer routes over ADS (a file store, the ADS server, real ADS clients over gRPC): an
 * HTTPRoute in the caller's namespace whose parent is a Service in another namespace routes the
 * calls of that namespace's sidecars only, over the producer route in the Service's namespace;
 * sidecars elsewhere keep the producer route. Removing the consumer route gives its namespace the
 * producer route back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { AdsClient, formatNodeId, TypeUrl, type XdsUpdate } from '@tsmesh/xds';
import { gatewayApiStatus, parseConfigYaml } from '@tsmesh/mesh-config';
import { startControlPlane, waitFor, type Running } from './helpers';

const svc = (name: string, ns: string, ip: string, vip: string, app = name, version = 'v1') => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: ${vip}, selector: {app: ${app}${name === app ? '' : `, version: ${version}`}}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: ${name}-0, namespace: ${ns}, labels: {app: ${app}, version: ${version}}}
spec: {serviceAccountName: ${app}, containers: [{name: app, image: app}]}
status: {podIP: ${ip}}
---
`;
const MESH = svc('cart', 'shop', '10.1.0.1', '10.96.1.1') + svc('cart-v1', 'shop', '10.1.0.2', '10.96.1.2', 'cart', 'v1') + svc('cart-v2', 'shop', '10.1.0.3', '10.96.1.3', 'cart', 'v2')
  + svc('web', 'web', '10.2.0.1', '10.96.2.1') + svc('batch', 'batch', '10.3.0.1', '10.96.3.1');
const PRODUCER = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart-split, namespace: shop, creationTimestamp: "2026-11-01T00:00:00Z"}
spec:
  parentRefs: [{group: "", kind: Service, name: cart, port: 8080}]
  rules: [{backendRefs: [{name: cart-v1, port: 8080, weight: 90}, {name: cart-v2, port: 8080, weight: 10}]}]
`;
const CONSUMER = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart-from-web, namespace: web, creationTimestamp: "2026-11-02T00:00:00Z"}
spec:
  parentRefs: [{group: "", kind: Service, name: cart, namespace: shop, port: 8080}]
  rules: [{backendRefs: [{name: cart-v2, namespace: shop, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: web-to-cart, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: web}]
  to: [{group: "", kind: Service}]
`;

type Weighted = { cluster?: string; weighted_clusters?: { clusters: { name: string; weight: { value: number } }[] } };

/** The clusters (with weights) the caller's route table sends `cart.shop` calls to. */
function cartRoute(u: XdsUpdate | undefined): Record<string, number> {
  const rc = u?.resources.find((r) => r.name === '8080')?.message as { virtual_hosts: { name: string; routes: { route?: Weighted }[] }[] } | undefined;
  const route = rc?.virtual_hosts.find((v) => v.name === 'cart.shop.svc.cluster.local:8080')?.routes[0]?.route;
  if (!route) return {};
  if (route.cluster) return { [route.cluster.split('|')[3].split('.')[0]]: 100 };
  return Object.fromEntries((route.weighted_clusters?.clusters ?? []).map((c) => [c.name.split('|')[3].split('.')[0], c.weight.value]));
}

describe('GAMMA consumer routes (route in the caller namespace, parent Service in another)', () => {
  let cp: Running;
  const clients: AdsClient[] = [];
  const last: Record<string, XdsUpdate | undefined> = {};

  beforeAll(async () => {
    cp = await startControlPlane([], { debounceMs: 50 });
    cp.write('mesh.yaml', MESH);
    cp.write('producer.yaml', PRODUCER);
    cp.write('consumer.yaml', CONSUMER);
    await waitFor(() => (cp.discovery.pushContext()?.registry.services.length ?? 0) === 5, 3000, 'services');
    for (const [ns, pod, ip] of [['web', 'web-0', '10.2.0.1'], ['shop', 'cart-0', '10.1.0.1'], ['batch', 'batch-0', '10.3.0.1']] as const) {
      const c = new AdsClient({ server: `127.0.0.1:${cp.xdsPort}`, node: { id: formatNodeId({ type: 'sidecar', ip, podName: pod, namespace: ns }) }, backoff: { initialMs: 50, maxMs: 500 } });
      c.watch(TypeUrl.RouteConfiguration, ['8080'], (u) => { last[ns] = u; });
      c.start();
      clients.push(c);
    }
    await waitFor(() => ['web', 'shop', 'batch'].every((ns) => Object.keys(cartRoute(last[ns])).length > 0), 5000, 'the cart route on every sidecar');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.close();
  });

  it("the consumer namespace's sidecars take its route; the others keep the producer route", () => {
    expect(cartRoute(last.web)).toEqual({ 'cart-v2': 100 });
    expect(cartRoute(last.shop)).toEqual({ 'cart-v1': 90, 'cart-v2': 10 });
    expect(cartRoute(last.batch)).toEqual({ 'cart-v1': 90, 'cart-v2': 10 });
  });

  it('the consumer route is Accepted on its Service parent without a ReferenceGrant for the parent, and says whose calls it routes', () => {
    const parsed = parseConfigYaml([MESH, PRODUCER, CONSUMER].join('---\n'), 'all.yaml');
    expect(parsed.issues).toEqual([]);
    const status = gatewayApiStatus(parsed.resources);
    const parent = status.get('HTTPRoute/web/cart-from-web')!.parents![0];
    expect(parent.parentRef).toMatchObject({ kind: 'Service', name: 'cart', namespace: 'shop' });
    expect(parent.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
    expect(parent.conditions[0].message).toBe('consumer route: applies to calls from namespace web');
    const missing = gatewayApiStatus(parseConfigYaml(MESH + '---\n' + CONSUMER.replace('name: cart, namespace: shop', 'name: nope, namespace: shop'), 'all.yaml').resources);
    expect(missing.get('HTTPRoute/web/cart-from-web')!.parents![0].conditions[0]).toMatchObject({ status: 'False', reason: 'NoMatchingParent' });
  });

  it('removing the consumer route gives its namespace the producer route back', async () => {
    unlinkSync(join(cp.dir, 'consumer.yaml'));
    await waitFor(() => cartRoute(last.web)['cart-v1'] === 90, 5000, 'the producer route on the web sidecar');
    expect(cartRoute(last.web)).toEqual({ 'cart-v1': 90, 'cart-v2': 10 });
  });
});
