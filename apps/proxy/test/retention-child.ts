/**
 * Run by retention.spec.ts as `node --expose-gc --import tsx` (a process of its own, so a forced
 * collection sees only this proxy): an in-process proxy takes a mesh of `SERVICES` services from a
 * real ADS server, every decoded xDS message and every update handed to the config is tracked with
 * a WeakRef, and after the apply and a forced collection the test reports how many are still
 * reachable. Then the same mesh is pushed again at new versions with changed endpoints and routes,
 * and the heap after each (collected) is reported: the config must not grow with its versions.
 * Prints one JSON line.
 */
import { ControlPlane, startProxy, httpListener, edsCluster, applied, route } from './harness';
import { routeConfiguration, virtualHost, type Cluster, type ClusterLoadAssignment } from '@tsmesh/xds';
import { getHeapSpaceStatistics } from 'node:v8';
import { XdsConfig } from '../src/agent/xds-config';

const SERVICES = Number(process.env.RETENTION_SERVICES ?? 300);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const messages: WeakRef<object>[] = [];
const updates: WeakRef<object>[] = [];
let decoded = 0;
/** Tracking stops after the first apply (the WeakRefs would be the heap growth measured next). */
let tracking = true;

// Every update the config is handed is wrapped: each read of a resource's `message` (the decoded
// protobuf message) is tracked, as is the update itself.
const proto = XdsConfig.prototype as unknown as Record<string, (u: { resources: { message: unknown }[] }) => unknown>;
for (const m of ['onClusters', 'onEndpoints', 'onListeners', 'onRoutes']) {
  const orig = proto[m];
  proto[m] = function (this: unknown, u) {
    if (!tracking) return orig.call(this, u);
    updates.push(new WeakRef(u));
    const resources = u.resources.map((r) => Object.create(r, {
      message: {
        get() {
          const msg = r.message as object;
          decoded++;
          messages.push(new WeakRef(msg));
          return msg;
        },
      },
    }) as { message: unknown });
    return orig.call(this, { ...u, resources });
  };
}

function mesh(n: number, round: number): { clusters: Cluster[]; endpoints: ClusterLoadAssignment[]; hosts: ReturnType<typeof virtualHost>[] } {
  const clusters: Cluster[] = [];
  const endpoints: ClusterLoadAssignment[] = [];
  const hosts: ReturnType<typeof virtualHost>[] = [];
  for (let i = 0; i < n; i++) {
    const fqdn = `svc-${i}.ns-${i % 10}.svc.cluster.local`;
    const name = `outbound|80||${fqdn}`;
    // endpoints and route timeouts change every round, so every round compiles anew
    const { c, e } = edsCluster(name, [20_000 + ((i + round) % 500), 21_000 + round], {
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
      outlierDetection: { consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100 },
    });
    clusters.push(c);
    endpoints.push(e);
    hosts.push(virtualHost(`${fqdn}:80`, [fqdn, `${fqdn}:80`, `svc-${i}.ns-${i % 10}`], [route({ cluster: name, timeoutMs: 1000 + round, retry: { retryOn: 'connect-failure,refused-stream', numRetries: 2 } })]));
  }
  return { clusters, endpoints, hosts };
}

async function collected(): Promise<number> {
  // let pending callbacks (ACKs, stream writes) settle, then collect twice (WeakRefs clear after a turn)
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 50));
    gc!();
  }
  // the objects the proxy holds (code and feedback, which grow as functions warm up, excluded)
  let used = 0;
  for (const sp of getHeapSpaceStatistics()) if (sp.space_name === 'old_space' || sp.space_name === 'large_object_space') used += sp.space_used_size;
  return used;
}

async function main(): Promise<void> {
  const cp = new ControlPlane();
  await cp.start();
  const proxy = await startProxy(cp, 0);
  const push = (round: number) => {
    const m = mesh(SERVICES, round);
    return cp.push({ listeners: [httpListener('out', 'out')], routes: [routeConfiguration('out', m.hosts)], clusters: m.clusters, endpoints: m.endpoints });
  };
  const empty = await collected();
  await applied(proxy, push(0));
  const configured = await collected();
  tracking = false;
  const alive = messages.filter((w) => w.deref() !== undefined).length;
  const updatesAlive = updates.filter((w) => w.deref() !== undefined).length;
  const clusters = [...(proxy as unknown as { clusters: { all(): unknown[] } }).clusters.all()].length;
  const heap: number[] = [];
  for (let round = 1; round <= Number(process.env.RETENTION_ROUNDS ?? 6); round++) {
    await applied(proxy, push(round));
    heap.push(await collected());
  }
  const clustersAfter = [...(proxy as unknown as { clusters: { all(): unknown[] } }).clusters.all()].length;
  process.stdout.write(`${JSON.stringify({ services: SERVICES, configBytes: configured - empty, decoded, alive, updates: updates.length, updatesAlive, clusters, clustersAfter, heap })}\n`);
  await proxy.stop();
  await cp.close();
  process.exit(0);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
