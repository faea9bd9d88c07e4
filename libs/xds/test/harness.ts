/** Test harness: real gRPC greeter backends and real @grpc/grpc-js-xds clients in child processes. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  apiListener, cluster, clusterLoadAssignment, route, routeConfiguration, Snapshot, TypeUrl, virtualHost,
  type ClusterOptions,
} from '../src/index';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A running greeter backend that answers with its name. */
export interface Backend {
  name: string;
  port: number;
  calls: number;
  close(): Promise<void>;
}

/** Starts a real gRPC greeter server on 127.0.0.1. */
export async function startBackend(name: string): Promise<Backend> {
  const def = protoLoader.loadSync(`${fixtures}greeter.proto`);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tsmesh: { testing: { Greeter: { service: grpc.ServiceDefinition } } } };
  const server = new grpc.Server();
  const backend: Backend = {
    name,
    port: 0,
    calls: 0,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(pkg.tsmesh.testing.Greeter.service, {
    SayHello: (_call: unknown, cb: grpc.sendUnaryData<{ message: string; backend: string }>) => {
      backend.calls += 1;
      cb(null, { message: 'hello', backend: name });
    },
  });
  backend.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  return backend;
}

/** Resources for `xds:///greeter`: an API listener, a weighted route, one EDS cluster per backend. */
export function greeterSnapshot(version: string, backends: { name: string; port: number; weight: number }[], clusterExtra: Partial<ClusterOptions> = {}): Snapshot {
  return Snapshot.create(version, {
    [TypeUrl.Listener]: [apiListener('greeter', { rdsName: 'greeter-route' })],
    [TypeUrl.RouteConfiguration]: [
      routeConfiguration('greeter-route', [
        virtualHost('greeter', ['greeter'], [
          route({ match: { prefix: '' }, weightedClusters: backends.map((b) => ({ cluster: b.name, weight: b.weight })) }),
        ]),
      ]),
    ],
    [TypeUrl.Cluster]: backends.map((b) => cluster({ name: b.name, ...clusterExtra })),
    [TypeUrl.ClusterLoadAssignment]: backends.map((b) => clusterLoadAssignment(b.name, [{ address: '127.0.0.1', port: b.port }])),
  });
}

/** Result of a batch of calls from a client process. */
export interface CallResult {
  counts: Record<string, number>;
  errorCount: number;
  errors: string[];
}

/** A @grpc/grpc-js-xds client in its own process, configured only by the xDS server at `xdsPort`. */
export class XdsClientProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(xdsPort: number, nodeId: string): Promise<XdsClientProcess> {
    const bootstrap = {
      xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: nodeId, cluster: 'test', locality: {} },
    };
    const child = fork(`${fixtures}xds-greeter-client.mjs`, [], {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_VERBOSITY: 'NONE' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`xds client exited early with ${code}`)));
    });
    return new XdsClientProcess(child);
  }

  /** Makes `n` unary calls to `xds:///greeter` and reports which backend answered each. */
  call(n: number, target = 'xds:///greeter'): Promise<CallResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`xds client exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.once('message', (m) => {
        this.child.off('exit', onExit);
        resolve(m as CallResult);
      });
      this.child.send({ cmd: 'call', n, target });
    });
  }

  /** Makes calls until every one of `n` consecutive calls reaches `backend` (or `timeoutMs` passes). */
  async waitForOnly(backend: string, n: number, timeoutMs: number): Promise<CallResult> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.call(n);
      if (r.errorCount === 0 && r.counts[backend] === n) return r;
      if (Date.now() > until) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ cmd: 'exit' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  }
}
