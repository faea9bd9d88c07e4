/**
 * Per-proxy scoping: with a Sidecar limiting egress to its own namespace, a change to a
 * VirtualService in one namespace is pushed to the proxies of that namespace and to no other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdsClient, formatNodeId, TypeUrl } from '@tsmesh/xds';
import { startControlPlane, waitFor, type Running } from './helpers';

const svc = (name: string, ns: string, ip: string, vip: string) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: ${vip}, selector: {app: ${name}}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: ${name}-0, namespace: ${ns}, labels: {app: ${name}}}
spec: {serviceAccountName: ${name}, containers: [{name: app, image: app}]}
status: {podIP: ${ip}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${ns}}
spec: {egress: [{hosts: ["./*"]}]}
---
`;
const vs = (timeout: string) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: alpha, namespace: team-a}
spec:
  hosts: [alpha]
  http: [{route: [{destination: {host: alpha}}], timeout: ${timeout}}]
`;

describe('pushes reach only the proxies a change affects', () => {
  let cp: Running;
  const clients: AdsClient[] = [];
  const rds: Record<string, string[]> = { a: [], b: [] };

  beforeAll(async () => {
    cp = await startControlPlane([], { debounceMs: 50 });
    cp.write('mesh.yaml', svc('alpha', 'team-a', '10.1.0.1', '10.96.1.1') + svc('beta', 'team-b', '10.2.0.1', '10.96.2.1'));
    cp.write('vs.yaml', vs('1s'));
    await waitFor(() => (cp.discovery.pushContext()?.registry.services.length ?? 0) === 2, 3000, 'services');
    for (const [k, ns, pod, ip] of [['a', 'team-a', 'alpha-0', '10.1.0.1'], ['b', 'team-b', 'beta-0', '10.2.0.1']] as const) {
      const c = new AdsClient({ server: `127.0.0.1:${cp.xdsPort}`, node: { id: formatNodeId({ type: 'sidecar', ip, podName: pod, namespace: ns }) } });
      c.watch(TypeUrl.RouteConfiguration, ['8080'], (u) => { rds[k].push(u.version); });
      c.start();
      clients.push(c);
    }
    await waitFor(() => rds.a.length === 1 && rds.b.length === 1, 5000, 'first RDS on both');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.close();
  });

  it('sends the new route table to team-a only', async () => {
    cp.write('vs.yaml', vs('2s'));
    await waitFor(() => rds.a.length === 2, 3000, 'team-a update');
    await new Promise((r) => setTimeout(r, 200));
    expect(rds.b).toHaveLength(1);
    expect(cp.discovery.lastPushSummary()).toMatchObject({ proxies: 2, pushed: 1 });
  });
});
