import { describe, expect, it } from 'vitest';
import { snapshotFromEncoded } from './snapshot-encoded';
import { encodeResource } from '../resource';
import { TypeUrl } from '../type-urls';
import { cluster } from '../builders/cluster';
import { clusterLoadAssignment } from '../builders/endpoint';

describe('snapshotFromEncoded', () => {
  it('shares encoded resources between snapshots and checks consistency', () => {
    const c = encodeResource(TypeUrl.Cluster, cluster({ name: 'a' }));
    const e = encodeResource(TypeUrl.ClusterLoadAssignment, clusterLoadAssignment('a', []));
    const s1 = snapshotFromEncoded('1', { [TypeUrl.Cluster]: [c], [TypeUrl.ClusterLoadAssignment]: [e] });
    const s2 = snapshotFromEncoded({ [TypeUrl.Cluster]: 'x' }, { [TypeUrl.Cluster]: [c], [TypeUrl.ClusterLoadAssignment]: [e] });
    expect(s1.resources(TypeUrl.Cluster).get('a')).toBe(s2.resources(TypeUrl.Cluster).get('a'));
    expect(s1.version(TypeUrl.Listener)).toBe('1');
    expect(s2.version(TypeUrl.Cluster)).toBe('x');
    expect(s1.consistencyProblems()).toEqual([]);
    expect(snapshotFromEncoded('1', { [TypeUrl.Cluster]: [c] }).consistencyProblems()).toHaveLength(1);
  });

  it('rejects duplicates and resources filed under the wrong type', () => {
    const c = encodeResource(TypeUrl.Cluster, cluster({ name: 'a', type: 'STATIC' }));
    expect(() => snapshotFromEncoded('1', { [TypeUrl.Cluster]: [c, c] })).toThrow(/duplicate/);
    expect(() => snapshotFromEncoded('1', { [TypeUrl.Listener]: [c] })).toThrow(/given as/);
  });
});
