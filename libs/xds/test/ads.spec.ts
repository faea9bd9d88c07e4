/** The ADS server and client cores against each other over real gRPC, plus raw streams for protocol edges. */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADS_PATHS, AdsClient, AdsServer, adsCodec, cluster, clusterLoadAssignment, DeltaAdsClient, encodeResource, ResourceRejectedError, Snapshot, SnapshotCache, snapshotFromEncoded, TypeUrl, vhdsResourceName,
  type DeltaDiscoveryResponse__Output, type DeltaUpdate, type DiscoveryResponse__Output, type XdsUpdate,
} from '../src/index';

const snap = (version: string, names: string[], lb: 'ROUND_ROBIN' | 'RANDOM' = 'ROUND_ROBIN') =>
  Snapshot.create(version, {
    [TypeUrl.Cluster]: names.map((n) => cluster({ name: n, lbPolicy: lb })),
    [TypeUrl.ClusterLoadAssignment]: names.map((n) => clusterLoadAssignment(n, [{ address: '10.0.0.1', port: 80 }])),
  });

const waitFor = async (cond: () => boolean, what: string, timeoutMs = 5000) => {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(cache = new SnapshotCache(), hooks = {}) {
  const server = new AdsServer({ cache, hooks });
  const port = await server.listen('127.0.0.1:0');
  cleanups.push(() => server.close());
  return { server, port, cache };
}

function startClient(port: number, id: string) {
  const client = new AdsClient({ server: `127.0.0.1:${port}`, node: { id }, backoff: { initialMs: 50, maxMs: 200 } });
  cleanups.push(() => client.close());
  return client;
}

describe('AdsClient ↔ AdsServer (State of the World)', () => {
  it('subscribes, applies and ACKs; the server records the ACKed version per type', async () => {
    const { server, port, cache } = await startServer();
    cache.setSnapshot('proxy-1', snap('v1', ['a', 'b']));
    const client = startClient(port, 'proxy-1');
    const cds: XdsUpdate[] = [];
    const eds: XdsUpdate[] = [];
    client.watch(TypeUrl.Cluster, '*', (u) => {
      cds.push(u);
      client.subscribe(TypeUrl.ClusterLoadAssignment, u.resources.map((r) => r.name));
    });
    client.watch(TypeUrl.ClusterLoadAssignment, [], (u) => void eds.push(u));
    client.start();
    await waitFor(() => server.status.get('proxy-1')?.types.get(TypeUrl.ClusterLoadAssignment)?.ackedVersion === 'v1', 'EDS ACK');
    expect(cds[0].resources.map((r) => r.name)).toEqual(['a', 'b']);
    expect(cds[0].resources[0].message).toMatchObject({ name: 'a', type: 'EDS', lb_policy: 'ROUND_ROBIN' });
    expect(eds.at(-1)!.resources.map((r) => r.name).sort()).toEqual(['a', 'b']);
    const st = server.status.get('proxy-1')!;
    expect(st.types.get(TypeUrl.Cluster)?.ackedVersion).toBe('v1');
    expect(st.streams).toBe(1);
    expect(client.state().get(TypeUrl.Cluster)?.acceptedVersion).toBe('v1');
  });

  it('NACKs with the handler’s reason, keeps the last accepted version, and accepts the next good one', async () => {
    const { server, port, cache } = await startServer();
    cache.setSnapshot('p', snap('good', ['a']));
    const client = startClient(port, 'p');
    const applied: string[] = [];
    client.watch(TypeUrl.Cluster, '*', (u) => {
      const bad = u.resources.find((r) => r.message.lb_policy === 'RANDOM');
      if (bad) throw new ResourceRejectedError(TypeUrl.Cluster, bad.name, 'lb_policy RANDOM is not allowed here');
      applied.push(u.version);
    });
    client.start();
    await waitFor(() => applied.includes('good'), 'first apply');
    cache.setSnapshot('p', snap('bad', ['a'], 'RANDOM'));
    await waitFor(() => server.status.get('p')?.types.get(TypeUrl.Cluster)?.lastNack !== undefined, 'NACK');
    const t = server.status.get('p')!.types.get(TypeUrl.Cluster)!;
    expect(t.lastNack).toMatchObject({ version: 'bad', code: 3, message: 'Cluster resource "a": lb_policy RANDOM is not allowed here' });
    expect(t.ackedVersion).toBe('good');
    expect(client.state().get(TypeUrl.Cluster)).toMatchObject({ acceptedVersion: 'good', lastNack: { version: 'bad' } });
    // The NACKed version is not pushed again on the client's NACK request.
    await new Promise((r) => setTimeout(r, 100));
    expect(server.status.get('p')!.types.get(TypeUrl.Cluster)!.sentVersion).toBe('bad');
    cache.setSnapshot('p', snap('fixed', ['a']));
    await waitFor(() => server.status.get('p')?.types.get(TypeUrl.Cluster)?.ackedVersion === 'fixed', 'ACK fixed');
    expect(applied).toEqual(['good', 'fixed']);
  });

  it('pushes a new snapshot to every affected stream, and only those', async () => {
    const { server, port, cache } = await startServer();
    const ids = Array.from({ length: 25 }, (_, i) => `proxy-${i}`);
    const versions = new Map<string, string[]>();
    for (const id of ids) {
      cache.setSnapshot(id, snap('1', ['a']));
      const c = startClient(port, id);
      versions.set(id, []);
      c.watch(TypeUrl.Cluster, '*', (u) => void versions.get(id)!.push(u.version));
      c.start();
    }
    await waitFor(() => ids.every((id) => server.status.get(id)?.types.get(TypeUrl.Cluster)?.ackedVersion === '1'), 'all ACK 1');
    expect(server.streamCount()).toBe(25);
    for (const id of ids.slice(0, 10)) cache.setSnapshot(id, snap('2', ['a', 'b']));
    await waitFor(() => ids.slice(0, 10).every((id) => server.status.get(id)?.types.get(TypeUrl.Cluster)?.ackedVersion === '2'), 'first ten ACK 2');
    await new Promise((r) => setTimeout(r, 100));
    for (const id of ids.slice(0, 10)) expect(versions.get(id)).toEqual(['1', '2']);
    for (const id of ids.slice(10)) expect(versions.get(id)).toEqual(['1']);
  });

  it('reconnects with backoff after the server restarts and resumes from its accepted versions', async () => {
    const cache = new SnapshotCache();
    cache.setSnapshot('p', snap('1', ['a']));
    const first = new AdsServer({ cache });
    const port = await first.listen('127.0.0.1:0');
    const client = startClient(port, 'p');
    const versions: string[] = [];
    client.watch(TypeUrl.Cluster, '*', (u) => void versions.push(u.version));
    client.start();
    await waitFor(() => versions.includes('1'), 'v1');
    let disconnected = 0;
    client.on('disconnected', () => (disconnected += 1));
    await first.close();
    await waitFor(() => disconnected > 0, 'disconnect');

    const resumed: { version: string; nonce: string }[] = [];
    const { server } = await (async () => {
      const s = new AdsServer({ cache, hooks: { onRequest: (_n: string, t: string, v: string, nonce: string) => t === TypeUrl.Cluster && resumed.push({ version: v, nonce }) } });
      await s.listen(`127.0.0.1:${port}`);
      cleanups.push(() => s.close());
      return { server: s };
    })();
    await waitFor(() => resumed.length > 0, 'resumed request', 10_000);
    // The first request on the new stream carries the accepted version and no nonce; the server
    // has nothing newer, so it sends nothing and the client keeps its config.
    expect(resumed[0]).toEqual({ version: '1', nonce: '' });
    await new Promise((r) => setTimeout(r, 100));
    expect(versions).toEqual(['1']);
    cache.setSnapshot('p', snap('2', ['a']));
    await waitFor(() => server.status.get('p')?.types.get(TypeUrl.Cluster)?.ackedVersion === '2', 'ACK 2');
    expect(versions).toEqual(['1', '2']);
  });
});

describe('ADS protocol edges over a raw stream', () => {
  function rawSotw(port: number) {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const stream = client.makeBidiStreamRequest(ADS_PATHS.sotw, adsCodec.encodeRequest, adsCodec.decodeResponse);
    cleanups.push(() => stream.cancel());
    const got: DiscoveryResponse__Output[] = [];
    stream.on('data', (r: DiscoveryResponse__Output) => got.push(r));
    stream.on('error', () => {});
    return { stream, got };
  }

  it('fails a stream whose first request has no node', async () => {
    const { port } = await startServer();
    const { stream } = rawSotw(port);
    const err = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    stream.write({ version_info: '', resource_names: [], type_url: TypeUrl.Cluster, response_nonce: '' });
    const e = await err;
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/node\.id/);
  });

  it('ignores a NACK that answers a superseded nonce', async () => {
    const ignored: string[] = [];
    const { server, port, cache } = await startServer(undefined, { onIgnoredRequest: (_n: string, _t: string, why: string) => ignored.push(why) });
    cache.setSnapshot('raw', snap('1', ['a']));
    const { stream, got } = rawSotw(port);
    stream.write({ version_info: '', node: { id: 'raw' }, resource_names: [], type_url: TypeUrl.Cluster, response_nonce: '' });
    await waitFor(() => got.length === 1, 'first response');
    const n1 = got[0].nonce;
    stream.write({ version_info: '1', resource_names: [], type_url: TypeUrl.Cluster, response_nonce: n1 });
    cache.setSnapshot('raw', snap('2', ['a', 'b']));
    await waitFor(() => got.length === 2, 'second response');
    expect(got[1].resources.map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Cluster]);
    stream.write({ version_info: '1', resource_names: [], type_url: TypeUrl.Cluster, response_nonce: n1, error_detail: { code: 3, message: 'late' } });
    await waitFor(() => ignored.length === 1, 'ignored');
    expect(ignored[0]).toMatch(/stale nonce/);
    expect(server.status.get('raw')!.types.get(TypeUrl.Cluster)!.lastNack).toBeUndefined();
    stream.write({ version_info: '2', resource_names: [], type_url: TypeUrl.Cluster, response_nonce: got[1].nonce });
    await waitFor(() => server.status.get('raw')!.types.get(TypeUrl.Cluster)!.ackedVersion === '2', 'ACK 2');
  });

  it('serves Delta xDS: full set first, then only changes and removals', async () => {
    const { server, port, cache } = await startServer();
    cache.setSnapshot('delta', snap('1', ['a', 'b']));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const stream = client.makeBidiStreamRequest(ADS_PATHS.delta, adsCodec.encodeDeltaRequest, adsCodec.decodeDeltaResponse);
    cleanups.push(() => stream.cancel());
    const got: DeltaDiscoveryResponse__Output[] = [];
    stream.on('data', (r: DeltaDiscoveryResponse__Output) => got.push(r));
    stream.on('error', () => {});
    stream.write({ node: { id: 'delta' }, type_url: TypeUrl.Cluster });
    await waitFor(() => got.length === 1, 'first delta');
    expect(got[0].resources.map((r) => r.name).sort()).toEqual(['a', 'b']);
    expect(got[0].system_version_info).toBe('1');
    const versionA = got[0].resources.find((r) => r.name === 'a')!.version;
    stream.write({ type_url: TypeUrl.Cluster, response_nonce: got[0].nonce });
    await waitFor(() => server.status.get('delta')?.types.get(TypeUrl.Cluster)?.ackedVersion === '1', 'delta ACK');

    cache.setSnapshot('delta', Snapshot.create('2', {
      [TypeUrl.Cluster]: [cluster({ name: 'a' }), cluster({ name: 'c' })],
      [TypeUrl.ClusterLoadAssignment]: ['a', 'c'].map((n) => clusterLoadAssignment(n, [{ address: '10.0.0.1', port: 80 }])),
    }));
    await waitFor(() => got.length === 2, 'second delta');
    // `a` is byte-for-byte the same, so only `c` is sent; `b` is removed.
    expect(got[1].resources.map((r) => r.name)).toEqual(['c']);
    expect(got[1].removed_resources).toEqual(['b']);
    expect(versionA).toMatch(/^[0-9a-f]{16}$/);

    // Explicit subscriptions for EDS, with a resource the client already has at the current version.
    const eds = cache.getSnapshot('delta')!.resources(TypeUrl.ClusterLoadAssignment);
    stream.write({ type_url: TypeUrl.ClusterLoadAssignment, resource_names_subscribe: ['a', 'c'], initial_resource_versions: { a: eds.get('a')!.version } });
    await waitFor(() => got.length === 3, 'EDS delta');
    expect(got[2].type_url).toBe(TypeUrl.ClusterLoadAssignment);
    expect(got[2].resources.map((r) => r.name)).toEqual(['c']);
  });

  it('a Delta client resuming with every resource at the current version is recorded as holding it, and sent nothing', async () => {
    const { server, port, cache } = await startServer();
    cache.setSnapshot('resume', snap('7', ['a', 'b']));
    const held = cache.getSnapshot('resume')!.resources(TypeUrl.Cluster);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const stream = client.makeBidiStreamRequest(ADS_PATHS.delta, adsCodec.encodeDeltaRequest, adsCodec.decodeDeltaResponse);
    cleanups.push(() => stream.cancel());
    const got: DeltaDiscoveryResponse__Output[] = [];
    stream.on('data', (r: DeltaDiscoveryResponse__Output) => got.push(r));
    stream.on('error', () => {});
    stream.write({ node: { id: 'resume' }, type_url: TypeUrl.Cluster, initial_resource_versions: { a: held.get('a')!.version, b: held.get('b')!.version } });
    await waitFor(() => server.status.get('resume')?.types.get(TypeUrl.Cluster)?.ackedVersion === '7', 'resume recorded');
    const t = server.status.get('resume')!.types.get(TypeUrl.Cluster)!;
    expect(t.sentVersion).toBe('7');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([]);
    // Holding the snapshot's own map, the client is still owed exactly what a later snapshot changes.
    cache.setSnapshot('resume', snap('8', ['a', 'c']));
    await waitFor(() => got.length === 1, 'delta after the resume');
    expect(got[0].resources.map((r) => r.name)).toEqual(['c']);
    expect(got[0].removed_resources).toEqual(['b']);
  });
});

describe('status of resumed streams and NACKs (State of the World)', () => {
  it('a client resuming with version_info is recorded as holding it; a NACK records the version its request carried as acked', async () => {
    const { server, port, cache } = await startServer();
    cache.setSnapshot('sotw', snap('3', ['a']));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const stream = client.makeBidiStreamRequest(ADS_PATHS.sotw, adsCodec.encodeRequest, adsCodec.decodeResponse);
    cleanups.push(() => stream.cancel());
    const got: DiscoveryResponse__Output[] = [];
    stream.on('data', (r: DiscoveryResponse__Output) => got.push(r));
    stream.on('error', () => {});
    // Resuming at the current version: nothing is sent, and the status says it holds 3.
    stream.write({ node: { id: 'sotw' }, version_info: '3', resource_names: [], type_url: TypeUrl.Cluster, response_nonce: '' });
    await waitFor(() => server.status.get('sotw')?.types.get(TypeUrl.Cluster)?.ackedVersion === '3', 'resume recorded');
    expect(server.status.get('sotw')!.types.get(TypeUrl.Cluster)!.sentVersion).toBe('3');
    expect(got).toEqual([]);
    // A new version is sent and NACKed: acked stays the version the NACK carried (3).
    cache.setSnapshot('sotw', snap('4', ['a'], 'RANDOM'));
    await waitFor(() => got.length === 1, 'version 4 sent');
    stream.write({ version_info: '3', resource_names: [], type_url: TypeUrl.Cluster, response_nonce: got[0].nonce, error_detail: { code: 3, message: 'refused by the test' } });
    await waitFor(() => server.status.get('sotw')!.types.get(TypeUrl.Cluster)!.lastNack !== undefined, 'NACK recorded');
    const t = server.status.get('sotw')!.types.get(TypeUrl.Cluster)!;
    expect(t).toMatchObject({ sentVersion: '4', ackedVersion: '3', lastNack: { version: '4', message: 'refused by the test' } });
  });
});

describe('incremental SotW for non-full-state types (EDS, RDS)', () => {
  it('after an ACK, an EDS response carries only the load assignments that changed; CDS stays full; a NACK keeps the ACKed base', async () => {
    const { port, cache } = await startServer();
    const at = (ip: string) => (n: string) => clusterLoadAssignment(n, [{ address: ip, port: 80 }]);
    const make = (v: string, ips: Record<string, string>) => Snapshot.create(v, {
      [TypeUrl.Cluster]: Object.keys(ips).map((n) => cluster({ name: n })),
      [TypeUrl.ClusterLoadAssignment]: Object.entries(ips).map(([n, ip]) => at(ip)(n)),
    });
    cache.setSnapshot('p', make('v1', { a: '10.0.0.1', b: '10.0.0.1', c: '10.0.0.1' }));
    const client = startClient(port, 'p');
    const cds: XdsUpdate[] = [];
    const eds: XdsUpdate[] = [];
    let refuse = false;
    client.watch(TypeUrl.Cluster, '*', (u) => {
      cds.push(u);
      client.subscribe(TypeUrl.ClusterLoadAssignment, u.resources.map((r) => r.name));
    });
    client.watch(TypeUrl.ClusterLoadAssignment, [], (u) => {
      if (refuse) throw new Error('refused');
      eds.push(u);
    });
    client.start();
    await waitFor(() => client.state().get(TypeUrl.ClusterLoadAssignment)?.acceptedVersion === 'v1', 'EDS v1');
    expect(eds.at(-1)!.resources.map((r) => r.name).sort()).toEqual(['a', 'b', 'c']);
    cache.setSnapshot('p', make('v2', { a: '10.0.0.1', b: '10.0.0.2', c: '10.0.0.1' }));
    await waitFor(() => client.state().get(TypeUrl.ClusterLoadAssignment)?.acceptedVersion === 'v2', 'EDS v2');
    expect(eds.at(-1)!.resources.map((r) => r.name)).toEqual(['b']);
    // CDS is a full-state type: every cluster, every time.
    expect(cds.at(-1)!.resources.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    // A NACKed response does not move the base: the next one carries what changed since the last ACK.
    refuse = true;
    cache.setSnapshot('p', make('v3', { a: '10.0.0.3', b: '10.0.0.2', c: '10.0.0.1' }));
    await waitFor(() => client.state().get(TypeUrl.ClusterLoadAssignment)?.lastNack?.version === 'v3', 'EDS NACK');
    refuse = false;
    cache.setSnapshot('p', make('v4', { a: '10.0.0.3', b: '10.0.0.2', c: '10.0.0.4' }));
    await waitFor(() => client.state().get(TypeUrl.ClusterLoadAssignment)?.acceptedVersion === 'v4', 'EDS v4');
    expect(eds.at(-1)!.resources.map((r) => r.name).sort()).toEqual(['a', 'c']);
  });
});

describe('DeltaAdsClient ↔ AdsServer (VHDS)', () => {
  const vh = (rc: string, host: string, cluster: string) => ({ name: host, domains: [host], routes: [{ match: { prefix: '/' }, route: { cluster } }] });
  const vhSnap = (v: string, hosts: Record<string, string>) => snapshotFromEncoded({ [TypeUrl.VirtualHost]: v }, {
    [TypeUrl.VirtualHost]: Object.entries(hosts).map(([h, c]) => encodeResource(TypeUrl.VirtualHost, vh('80', h, c), vhdsResourceName('80', h))),
  });

  it('subscribes by wildcard, gets every virtual host, then only the changed ones and removals; a NACK keeps what it holds; a resume sends nothing new', async () => {
    const { server, port, cache } = await startServer();
    cache.setSnapshot('p', vhSnap('v1', { 'a.svc': 'c1', 'b.svc': 'c1' }));
    const client = new DeltaAdsClient({ server: `127.0.0.1:${port}`, node: { id: 'p' }, backoff: { initialMs: 50, maxMs: 200 } });
    cleanups.push(() => client.close());
    const got: DeltaUpdate[] = [];
    let refuse = false;
    client.watch(TypeUrl.VirtualHost, (u) => {
      if (refuse) throw new ResourceRejectedError(TypeUrl.VirtualHost, u.resources[0]?.name, 'bad virtual host');
      got.push(u);
    });
    client.start();
    await waitFor(() => server.status.get('p')?.types.get(TypeUrl.VirtualHost)?.ackedVersion === 'v1', 'VHDS v1 ACK');
    expect(got[0].resources.map((r) => r.name).sort()).toEqual(['80/a.svc', '80/b.svc']);
    expect((got[0].resources[0].message as { routes: unknown[] }).routes).toHaveLength(1);
    cache.setSnapshot('p', vhSnap('v2', { 'a.svc': 'c2', 'b.svc': 'c1' }));
    await waitFor(() => client.state().get(TypeUrl.VirtualHost)?.systemVersion === 'v2', 'VHDS v2');
    expect(got.at(-1)!.resources.map((r) => r.name)).toEqual(['80/a.svc']);
    expect(got.at(-1)!.removed).toEqual([]);
    cache.setSnapshot('p', vhSnap('v3', { 'a.svc': 'c2' }));
    await waitFor(() => client.state().get(TypeUrl.VirtualHost)?.systemVersion === 'v3', 'VHDS v3');
    expect(got.at(-1)!.resources).toEqual([]);
    expect(got.at(-1)!.removed).toEqual(['80/b.svc']);
    refuse = true;
    cache.setSnapshot('p', vhSnap('v4', { 'a.svc': 'c3' }));
    await waitFor(() => server.status.get('p')?.types.get(TypeUrl.VirtualHost)?.lastNack !== undefined, 'VHDS NACK');
    expect(server.status.get('p')!.types.get(TypeUrl.VirtualHost)!.lastNack!.message).toContain('bad virtual host');
    expect([...client.state().get(TypeUrl.VirtualHost)!.held.keys()]).toEqual(['80/a.svc']);
    expect(client.state().get(TypeUrl.VirtualHost)!.systemVersion).toBe('v3');
    refuse = false;
    // A new server holding exactly what the client holds: the resume sends nothing and is recorded as holding it.
    const held = client.state().get(TypeUrl.VirtualHost)!.held.get('80/a.svc');
    const cache2 = new SnapshotCache();
    cache2.setSnapshot('p', vhSnap('v3', { 'a.svc': 'c2' }));
    expect(cache2.getSnapshot('p')!.resources(TypeUrl.VirtualHost).get('80/a.svc')!.version).toBe(held);
    const n = got.length;
    await server.close();
    const s2 = new AdsServer({ cache: cache2 });
    await s2.listen(`127.0.0.1:${port}`);
    cleanups.push(() => s2.close());
    await waitFor(() => s2.status.get('p')?.types.get(TypeUrl.VirtualHost)?.ackedVersion === 'v3', 'resumed as holding v3', 8000);
    expect(got.length).toBe(n);
  });
});
