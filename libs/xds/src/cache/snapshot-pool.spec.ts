import { describe, expect, it } from 'vitest';
import { SnapshotPool } from './snapshot-pool';
import { SnapshotCache, deltaResponse, HOLDS_NOTHING } from './snapshot-cache';
import { encodeResource } from '../resource';
import { TypeUrl } from '../type-urls';
import { cluster } from '../builders/cluster';
import { clusterLoadAssignment } from '../builders/endpoint';

const cl = (n: string, timeout = 1) => encodeResource(TypeUrl.Cluster, cluster({ name: n, connectTimeoutMs: timeout * 1000 }));
const cla = (n: string, port = 80) => encodeResource(TypeUrl.ClusterLoadAssignment, clusterLoadAssignment(n, [{ address: '10.0.0.1', port }]));

describe('SnapshotPool', () => {
  it('gives nodes with equal content one snapshot, and keeps an unchanged type\'s list across rounds', () => {
    const pool = new SnapshotPool();
    const a = pool.snapshot({ [TypeUrl.Cluster]: 'c1', [TypeUrl.ClusterLoadAssignment]: 'e1' }, { [TypeUrl.Cluster]: [cl('a')], [TypeUrl.ClusterLoadAssignment]: [cla('a')] });
    // Another proxy: equal content in lists of its own.
    const b = pool.snapshot({ [TypeUrl.Cluster]: 'c1', [TypeUrl.ClusterLoadAssignment]: 'e1' }, { [TypeUrl.Cluster]: [cl('a')], [TypeUrl.ClusterLoadAssignment]: [cla('a')] });
    expect(b).toBe(a);
    pool.sweep();
    // The next round changes endpoints only: clusters keep the very map.
    const c = pool.snapshot({ [TypeUrl.Cluster]: 'c1', [TypeUrl.ClusterLoadAssignment]: 'e2' }, { [TypeUrl.Cluster]: [cl('a')], [TypeUrl.ClusterLoadAssignment]: [cla('a', 81)] });
    expect(c).not.toBe(a);
    expect(c.resources(TypeUrl.Cluster)).toBe(a.resources(TypeUrl.Cluster));
    expect(c.resources(TypeUrl.ClusterLoadAssignment)).not.toBe(a.resources(TypeUrl.ClusterLoadAssignment));
  });

  it('never merges lists that differ, even under the same version', () => {
    const pool = new SnapshotPool();
    const a = pool.snapshot({ [TypeUrl.Cluster]: 'same' }, { [TypeUrl.Cluster]: [cl('a', 1)] });
    const b = pool.snapshot({ [TypeUrl.Cluster]: 'same' }, { [TypeUrl.Cluster]: [cl('a', 2)] });
    expect(b).not.toBe(a);
    expect(b.resources(TypeUrl.Cluster).get('a')!.version).not.toBe(a.resources(TypeUrl.Cluster).get('a')!.version);
    expect(pool.size.lists).toBeGreaterThanOrEqual(2);
  });

  it('drops what a whole round did not ask for', () => {
    const pool = new SnapshotPool();
    const a = pool.snapshot({ [TypeUrl.Cluster]: 'c1' }, { [TypeUrl.Cluster]: [cl('a')] });
    pool.sweep();
    pool.sweep();
    expect(pool.snapshot({ [TypeUrl.Cluster]: 'c1' }, { [TypeUrl.Cluster]: [cl('a')] })).not.toBe(a);
  });
});

describe('Delta diffs between shared snapshot maps', () => {
  it('computes one diff for every stream making the same move and marks it shareable', () => {
    const pool = new SnapshotPool();
    const s1 = pool.snapshot({ [TypeUrl.Cluster]: 'v1' }, { [TypeUrl.Cluster]: [cl('a'), cl('b'), cl('gone')] });
    const s2 = pool.snapshot({ [TypeUrl.Cluster]: 'v2' }, { [TypeUrl.Cluster]: [cl('a'), cl('b', 5), cl('new')] });
    const held = s1.resources(TypeUrl.Cluster);
    const req = (known: Map<string, string>) => ({ nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set<string>(), known, held });
    const known = new Map([...held.values()].map((r) => [r.name, r.version]));
    const x = deltaResponse(s2, req(known))!;
    const y = deltaResponse(s2, req(new Map(known)))!;
    expect(x.resources.map((r) => r.name)).toEqual(['b', 'new']);
    expect(x.removed).toEqual(['gone']);
    expect(y.resources).toBe(x.resources);
    expect(y.shared).toBeDefined();
    expect(y.shared).toBe(x.shared);
    // The same answer as the name-by-name diff of a stream that does not know what it holds.
    const slow = deltaResponse(s2, { ...req(known), held: undefined })!;
    expect(slow.resources.map((r) => r.name)).toEqual(['b', 'new']);
    expect(slow.removed).toEqual(['gone']);
  });

  it('restricts a shared diff to a non-wildcard subscription (and then does not share it)', () => {
    const s1 = new SnapshotPool().snapshot({ [TypeUrl.ClusterLoadAssignment]: 'v1' }, { [TypeUrl.ClusterLoadAssignment]: [cla('a'), cla('b')] });
    const first = deltaResponse(s1, { nodeId: 'n', typeUrl: TypeUrl.ClusterLoadAssignment, wildcard: false, subscribed: new Set(['a']), known: new Map(), held: HOLDS_NOTHING })!;
    expect(first.resources.map((r) => r.name)).toEqual(['a']);
    expect(first.shared).toBeUndefined();
    const all = deltaResponse(s1, { nodeId: 'n', typeUrl: TypeUrl.ClusterLoadAssignment, wildcard: false, subscribed: new Set(['a', 'b']), known: new Map(), held: HOLDS_NOTHING })!;
    expect(all.resources.map((r) => r.name)).toEqual(['a', 'b']);
    expect(all.shared).toBeDefined();
  });

  it('skips a watch whose type kept its map when a shared snapshot replaces another', () => {
    const pool = new SnapshotPool();
    const cache = new SnapshotCache();
    const s1 = pool.snapshot({ [TypeUrl.Cluster]: 'c1', [TypeUrl.ClusterLoadAssignment]: 'e1' }, { [TypeUrl.Cluster]: [cl('a')], [TypeUrl.ClusterLoadAssignment]: [cla('a')] });
    cache.setSnapshot('n', s1);
    const sent: string[] = [];
    const held = s1.resources(TypeUrl.Cluster);
    cache.createDeltaWatch({ nodeId: 'n', typeUrl: TypeUrl.Cluster, wildcard: true, subscribed: new Set(), known: new Map([['a', held.get('a')!.version]]), held }, (r) => sent.push(r.typeUrl));
    pool.sweep();
    cache.setSnapshot('n', pool.snapshot({ [TypeUrl.Cluster]: 'c1', [TypeUrl.ClusterLoadAssignment]: 'e2' }, { [TypeUrl.Cluster]: [cl('a')], [TypeUrl.ClusterLoadAssignment]: [cla('a', 81)] }));
    expect(sent).toEqual([]);
    expect(cache.watchCount('n')).toBe(1);
  });
});
