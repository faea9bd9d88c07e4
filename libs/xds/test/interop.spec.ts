/**
 * Proof against a real xDS peer: @grpc/grpc-js-xds clients (proxyless gRPC, `xds:///greeter`)
 * configured only by this ADS server, calling real gRPC greeter backends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdsServer, SnapshotCache, TypeUrl } from '../src/index';
import { greeterSnapshot, startBackend, XdsClientProcess, type Backend } from './harness';

const waitFor = async (cond: () => boolean, timeoutMs: number, what: string) => {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('ADS server with real @grpc/grpc-js-xds clients', () => {
  let a: Backend;
  let b: Backend;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    a = await startBackend('backend-a');
    b = await startBackend('backend-b');
    cleanups.push(() => a.close(), () => b.close());
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('splits 80/20 over 1,000 calls, then moves every call to the second backend on a 0/100 snapshot', async () => {
    const cache = new SnapshotCache();
    const server = new AdsServer({ cache });
    const port = await server.listen('127.0.0.1:0');
    cleanups.push(() => server.close());
    const nodeId = 'grpc-client-weighted';
    cache.setSnapshot(nodeId, greeterSnapshot('1', [{ name: 'backend-a', port: a.port, weight: 80 }, { name: 'backend-b', port: b.port, weight: 20 }]));

    const client = await XdsClientProcess.start(port, nodeId);
    cleanups.push(() => client.stop());
    const r = await client.call(1000);
    expect(r.errorCount, r.errors.join('; ')).toBe(0);
    const shareA = (r.counts['backend-a'] ?? 0) / 10;
    expect(shareA).toBeGreaterThanOrEqual(75);
    expect(shareA).toBeLessThanOrEqual(85);
    expect((r.counts['backend-a'] ?? 0) + (r.counts['backend-b'] ?? 0)).toBe(1000);

    // The server saw the client ACK every type at version 1.
    const status = server.status.get(nodeId)!;
    for (const t of [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]) {
      expect(status.types.get(t)?.ackedVersion, t).toBe('1');
    }

    cache.setSnapshot(nodeId, greeterSnapshot('2', [{ name: 'backend-a', port: a.port, weight: 0 }, { name: 'backend-b', port: b.port, weight: 100 }]));
    await waitFor(() => status.types.get(TypeUrl.RouteConfiguration)?.ackedVersion === '2', 5000, 'RDS version 2 ACK');
    const after = await client.call(300);
    expect(after.errorCount).toBe(0);
    expect(after.counts).toEqual({ 'backend-b': 300 });
  });

  it('records a NACK with its error detail while the client keeps its last good config', async () => {
    const cache = new SnapshotCache();
    const server = new AdsServer({ cache });
    const port = await server.listen('127.0.0.1:0');
    cleanups.push(() => server.close());
    const nodeId = 'grpc-client-nack';
    cache.setSnapshot(nodeId, greeterSnapshot('good', [{ name: 'backend-a', port: a.port, weight: 100 }]));
    const client = await XdsClientProcess.start(port, nodeId);
    cleanups.push(() => client.stop());
    expect((await client.call(50)).counts).toEqual({ 'backend-a': 50 });

    // MAGLEV is not a policy proxyless gRPC can run: the client must reject this Cluster.
    cache.setSnapshot(nodeId, greeterSnapshot('bad', [{ name: 'backend-a', port: b.port, weight: 100 }], { lbPolicy: 'MAGLEV' }));
    const status = server.status.get(nodeId)!;
    await waitFor(() => status.types.get(TypeUrl.Cluster)?.lastNack?.version === 'bad', 5000, 'CDS NACK');
    const nack = status.types.get(TypeUrl.Cluster)!.lastNack!;
    expect(nack.message).toMatch(/MAGLEV/);
    expect(status.types.get(TypeUrl.Cluster)!.ackedVersion).toBe('good');

    // Still served by the last accepted cluster config (EDS moved to backend-b was accepted, so
    // check that calls succeed rather than which backend answers).
    const r = await client.call(50);
    expect(r.errorCount, r.errors.join('; ')).toBe(0);

    // A fixed snapshot is accepted again.
    cache.setSnapshot(nodeId, greeterSnapshot('fixed', [{ name: 'backend-a', port: a.port, weight: 100 }]));
    await waitFor(() => status.types.get(TypeUrl.Cluster)?.ackedVersion === 'fixed', 5000, 'CDS ACK of fixed');
    expect((await client.call(50)).counts).toEqual({ 'backend-a': 50 });
  });

  it('reconnects after the server restarts and picks up config from the new server', async () => {
    const cache = new SnapshotCache();
    let server = new AdsServer({ cache });
    const port = await server.listen('127.0.0.1:0');
    const nodeId = 'grpc-client-reconnect';
    cache.setSnapshot(nodeId, greeterSnapshot('1', [{ name: 'backend-a', port: a.port, weight: 100 }]));
    const client = await XdsClientProcess.start(port, nodeId);
    cleanups.push(() => client.stop());
    expect((await client.call(20)).counts).toEqual({ 'backend-a': 20 });

    await server.close();
    // Calls keep working from the last config while the control plane is down.
    expect((await client.call(20)).counts).toEqual({ 'backend-a': 20 });

    const cache2 = new SnapshotCache();
    cache2.setSnapshot(nodeId, greeterSnapshot('2', [{ name: 'backend-b', port: b.port, weight: 100 }]));
    server = new AdsServer({ cache: cache2 });
    await server.listen(`127.0.0.1:${port}`);
    cleanups.push(() => server.close());
    const r = await client.waitForOnly('backend-b', 20, 20_000);
    expect(r.counts).toEqual({ 'backend-b': 20 });
    // The resumed stream told the new server which version the client already had.
    expect(server.status.get(nodeId)?.types.get(TypeUrl.Listener)?.ackedVersion).toBe('2');
  });

  it('serves many clients on one server, each ACKing and following a push', async () => {
    const cache = new SnapshotCache();
    const server = new AdsServer({ cache });
    const port = await server.listen('127.0.0.1:0');
    cleanups.push(() => server.close());
    const ids = ['many-0', 'many-1', 'many-2', 'many-3'];
    for (const id of ids) cache.setSnapshot(id, greeterSnapshot('1', [{ name: 'backend-a', port: a.port, weight: 100 }]));
    const clients = await Promise.all(ids.map((id) => XdsClientProcess.start(port, id)));
    cleanups.push(...clients.map((c) => () => c.stop()));
    const first = await Promise.all(clients.map((c) => c.call(20)));
    for (const r of first) expect(r.counts).toEqual({ 'backend-a': 20 });
    expect(server.streamCount()).toBe(ids.length);

    for (const id of ids) cache.setSnapshot(id, greeterSnapshot('2', [{ name: 'backend-b', port: b.port, weight: 100 }]));
    await waitFor(() => ids.every((id) => server.status.get(id)?.types.get(TypeUrl.ClusterLoadAssignment)?.ackedVersion === '2'), 10_000, 'all clients ACK v2');
    const second = await Promise.all(clients.map((c) => c.waitForOnly('backend-b', 20, 5000)));
    for (const r of second) expect(r.counts).toEqual({ 'backend-b': 20 });
  });
});
