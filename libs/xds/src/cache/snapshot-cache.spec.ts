import { describe, expect, it } from 'vitest';
import { SnapshotCache, sotwResponse, deltaResponse, type WatchResponse, type DeltaWatchResponse } from './snapshot-cache';
import { Snapshot } from './snapshot';
import { TypeUrl } from '../type-urls';
import { cluster } from '../builders/cluster';
import { clusterLoadAssignment } from '../builders/endpoint';

const snap = (version: string, names: string[], port = 80) =>
  Snapshot.create(version, {
    [TypeUrl.Cluster]: names.map((n) => cluster({ name: n })),
    [TypeUrl.ClusterLoadAssignment]: names.map((n) => clusterLoadAssignment(n, [{ address: '10.0.0.1', port }])),
  });

const sotw = (o: Partial<{ names: string[]; wildcard: boolean; version: string; typeUrl: string }>) => ({
  nodeId: 'n',
  typeUrl: o.typeUrl ?? TypeUrl.Cluster,
  resourceNames: new Set(o.names ?? []),
  wildcard: o.wildcard ?? false,
  versionInfo: o.version ?? '',
});

describe('State-of-the-World responses', () => {
  it('answers a first wildcard request with every resource', () => {
    const r = sotwResponse(snap('1', ['a', 'b']), sotw({ wildcard: true }), {});
    expect(r?.version).toBe('1');
    expect(r?.resources.map((x) => x.name)).toEqual(['a', 'b']);
  });

  it('answers only the names asked for, skipping unknown ones', () => {
    const r = sotwResponse(snap('1', ['a', 'b']), sotw({ typeUrl: TypeUrl.ClusterLoadAssignment, names: ['b', 'zz'] }), {});
    expect(r?.resources.map((x) => x.name)).toEqual(['b']);
  });

  it('stays silent when the client already has the version and names', () => {
    const s = snap('1', ['a']);
    expect(sotwResponse(s, sotw({ wildcard: true, version: '1' }), { lastResponseNames: new Set(), lastResponseWildcard: true })).toBeNull();
  });

  it('answers again at the same version when the subscription changes', () => {
    const s = snap('1', ['a', 'b']);
    const r = sotwResponse(s, sotw({ names: ['a', 'b'], version: '1' }), { lastResponseNames: new Set(['a']), lastResponseWildcard: false });
    expect(r?.resources.map((x) => x.name)).toEqual(['a', 'b']);
  });

  it('does not resend a version the client NACKed', () => {
    const s = snap('2', ['a']);
    const sub = { lastResponseNames: new Set<string>(), lastResponseWildcard: true, nackedVersion: '2' };
    expect(sotwResponse(s, sotw({ wildcard: true, version: '1' }), sub)).toBeNull();
    expect(sotwResponse(snap('3', ['a']), sotw({ wildcard: true, version: '1' }), sub)?.version).toBe('3');
  });
});

describe('Delta responses', () => {
  it('sends only resources whose version changed, and removals', () => {
    const s1 = snap('1', ['a', 'b']);
    const first = deltaResponse(s1, { nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set(), known: new Map() })!;
    expect(first.resources.map((r) => r.name)).toEqual(['a', 'b']);
    const known = new Map(first.resources.map((r) => [r.name, r.version]));
    expect(deltaResponse(s1, { nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set(), known })).toBeNull();

    const s2 = Snapshot.create('2', {
      [TypeUrl.Cluster]: [cluster({ name: 'a', lbPolicy: 'RANDOM' }), cluster({ name: 'c' })],
      [TypeUrl.ClusterLoadAssignment]: ['a', 'c'].map((n) => clusterLoadAssignment(n, [{ address: '10.0.0.1', port: 80 }])),
    });
    const second = deltaResponse(s2, { nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set(), known })!;
    expect(second.resources.map((r) => r.name).sort()).toEqual(['a', 'c']);
    expect(second.removed).toEqual(['b']);
    expect(second.systemVersion).toBe('2');
  });

  it('removes a resource the client knows but no longer subscribes to', () => {
    const s = snap('1', ['a']);
    const r = deltaResponse(s, { nodeId: 'n', typeUrl: TypeUrl.ClusterLoadAssignment, wildcard: false, subscribed: new Set(), known: new Map([['a', 'x']]) });
    expect(r?.removed).toEqual(['a']);
  });
});

describe('SnapshotCache', () => {
  it('answers an open watch when a snapshot for its node is set, and only then', () => {
    const cache = new SnapshotCache();
    const got: WatchResponse[] = [];
    cache.createWatch(sotw({ wildcard: true }), {}, (r) => got.push(r));
    expect(got).toEqual([]);
    expect(cache.watchCount('n')).toBe(1);
    cache.setSnapshot('other', snap('1', ['a']));
    expect(got).toEqual([]);
    cache.setSnapshot('n', snap('1', ['a']));
    expect(got.map((g) => g.version)).toEqual(['1']);
    expect(cache.watchCount('n')).toBe(0);
  });

  it('answers at once when the snapshot is newer than the request', () => {
    const cache = new SnapshotCache();
    cache.setSnapshot('n', snap('7', ['a']));
    const got: WatchResponse[] = [];
    cache.createWatch(sotw({ wildcard: true, version: '6' }), { lastResponseNames: new Set(), lastResponseWildcard: true }, (r) => got.push(r));
    expect(got.map((g) => g.version)).toEqual(['7']);
  });

  it('does not fire a cancelled watch', () => {
    const cache = new SnapshotCache();
    const got: DeltaWatchResponse[] = [];
    const cancel = cache.createDeltaWatch({ nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set(), known: new Map() }, (r) => got.push(r));
    cancel();
    cache.setSnapshot('n', snap('1', ['a']));
    expect(got).toEqual([]);
  });

  it('refuses an inconsistent snapshot and keeps the previous one', () => {
    const cache = new SnapshotCache();
    const good = snap('1', ['a']);
    cache.setSnapshot('n', good);
    const bad = Snapshot.create('2', { [TypeUrl.Cluster]: [cluster({ name: 'a' })] });
    expect(() => cache.setSnapshot('n', bad)).toThrow(/cluster "a" references endpoints "a"/);
    expect(cache.getSnapshot('n')).toBe(good);
  });
});

describe('deltaResponse with the map the client holds', () => {
  it('owes nothing while the snapshot holds the very map the last response came from, and diffs against any other', () => {
    const s1 = snap('1', ['a', 'b']);
    const req = { nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set<string>(), known: new Map<string, string>() };
    const first = deltaResponse(s1, req)!;
    expect(first.resources.map((r) => r.name)).toEqual(['a', 'b']);
    expect(first.from).toBe(s1.resources(TypeUrl.Cluster));
    // `known` left empty on purpose: `held` alone says the client holds s1's map.
    expect(deltaResponse(s1, { ...req, held: first.from })).toBeNull();
    const s2 = snap('2', ['a', 'c']);
    const known = new Map(first.resources.map((r) => [r.name, r.version]));
    const next = deltaResponse(s2, { ...req, known, held: first.from })!;
    expect(next.resources.map((r) => r.name)).toEqual(['c']);
    expect(next.removed).toEqual(['b']);
  });
});
