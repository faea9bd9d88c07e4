/**
 * Proxyless gRPC against a real peer: @grpc/grpc-js-xds clients in a child process, configured
 * only by this control plane (Service + EndpointSlices + DestinationRule + VirtualService from
 * YAML files), calling real gRPC backends. Changing the VirtualService file moves the traffic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '@tsmesh/xds';
import { startControlPlane, waitFor, type Running } from './helpers';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const NODE = 'sidecar~127.0.0.1~grpc-client-0.default~default.svc.cluster.local';
const TARGET = 'xds:///greeter.default.svc.cluster.local:7070';

async function backend(name: string): Promise<{ port: number; close: () => void }> {
  const def = protoLoader.loadSync(`${fixtures}greeter.proto`);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tsmesh: { cptest: { Greeter: { service: grpc.ServiceDefinition } } } };
  const server = new grpc.Server();
  server.addService(pkg.tsmesh.cptest.Greeter.service, { SayHello: (_c: unknown, cb: grpc.sendUnaryData<{ backend: string }>) => cb(null, { backend: name }) });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { port, close: () => server.forceShutdown() };
}

function config(portA: number, portB: number, subset: 'a' | 'b'): string {
  const slice = (name: string, pod: string, port: number) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}, namespace: default, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
ports: [{name: grpc, port: ${port}}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}, targetRef: {kind: Pod, name: ${pod}, namespace: default}}]
---`;
  return `
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec: {clusterIP: 10.96.0.30, selector: {app: greeter}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-a, namespace: default, labels: {app: greeter, version: a}}
spec: {containers: [{name: app, image: greeter}]}
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-b, namespace: default, labels: {app: greeter, version: b}}
spec: {containers: [{name: app, image: greeter}]}
---
${slice('greeter-a', 'greeter-a', portA)}
${slice('greeter-b', 'greeter-b', portB)}
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: default}
spec:
  host: greeter
  subsets: [{name: a, labels: {version: a}}, {name: b, labels: {version: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  hosts: [greeter]
  http:
    - route: [{destination: {host: greeter, subset: ${subset}}}]
`;
}

describe('proxyless gRPC (@grpc/grpc-js-xds) configured by the control plane', () => {
  let cp: Running;
  let child: ChildProcess | undefined;
  const backends: { close: () => void }[] = [];

  const call = (n: number) => new Promise<{ counts: Record<string, number>; errors: string[]; errorCount: number }>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`client exited with ${code}`));
    child!.once('exit', onExit);
    child!.once('message', (m) => {
      child!.off('exit', onExit);
      resolve(m as never);
    });
    child!.send({ cmd: 'call', n, target: TARGET });
  });

  beforeAll(async () => {
    const a = await backend('greeter-a');
    const b = await backend('greeter-b');
    backends.push(a, b);
    cp = await startControlPlane([], { debounceMs: 50 });
    cp.write('greeter.yaml', config(a.port, b.port, 'b'));
    await waitFor(() => !!cp.discovery.pushContext()?.registry.byHost.get('greeter.default.svc.cluster.local'), 5000, 'greeter in the registry');
    const bootstrap = {
      xds_servers: [{ server_uri: `127.0.0.1:${cp.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: NODE, cluster: 'grpc-client', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'default' } },
    };
    child = fork(`${fixtures}grpc-xds-client.mjs`, [], {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_VERBOSITY: 'NONE' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child!.once('message', () => resolve());
      child!.once('exit', (code) => reject(new Error(`client exited early with ${code}`)));
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.send({ cmd: 'exit' });
      const t = setTimeout(() => child!.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(t);
    }
    for (const b of backends) b.close();
    await cp?.close();
  });

  it('routes every call to the subset the VirtualService names, and ACKs every type', async () => {
    // The first calls wait for the client's initial xDS round; on a loaded machine that can take a while.
    let r = await call(20);
    for (let i = 0; i < 10 && r.counts['greeter-b'] !== 20; i++) r = await call(20);
    expect(r.errors).toEqual([]);
    expect(r.counts).toEqual({ 'greeter-b': 20 });
    const st = cp.discovery.ads.status.get(NODE)!;
    for (const t of [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]) {
      expect(st.types.get(t)?.lastNack, t).toBeUndefined();
      expect(st.types.get(t)?.ackedVersion, t).toBeTruthy();
    }
  });

  it('follows a VirtualService file change to the other subset', async () => {
    const st = cp.discovery.ads.status.get(NODE)!;
    const before = st.types.get(TypeUrl.RouteConfiguration)?.ackedVersion;
    const a = (cp.discovery.pushContext()!.registry.endpoints.get('greeter.default.svc.cluster.local') ?? []).map((e) => e.port);
    cp.write('greeter.yaml', config(a[0], a[1], 'a'));
    await waitFor(() => st.types.get(TypeUrl.RouteConfiguration)?.ackedVersion !== before, 5000, 'RDS ACK after the change');
    // The client switches its route table right after the ACK; calls in flight may still land on b.
    let r = await call(20);
    for (let i = 0; i < 20 && r.counts['greeter-a'] !== 20; i++) r = await call(20);
    expect(r.errors).toEqual([]);
    expect(r.counts).toEqual({ 'greeter-a': 20 });
  });
});
