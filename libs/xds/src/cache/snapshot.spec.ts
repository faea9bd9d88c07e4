import { describe, expect, it } from 'vitest';
import { Snapshot, referencedRouteNames } from './snapshot';
import { TypeUrl } from '../type-urls';
import { apiListener, httpConnectionManager, listener } from '../builders/listener';
import { route, routeConfiguration, virtualHost } from '../builders/route';
import { cluster } from '../builders/cluster';
import { clusterLoadAssignment } from '../builders/endpoint';
import { SnapshotInconsistentError, ResourceEncodingError } from '../errors';

const l = listener({ name: '0.0.0.0_80', address: '0.0.0.0', port: 80, filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'x', rdsName: '80' })] }] });
const rc = routeConfiguration('80', [virtualHost('a', ['a'], [route({ cluster: 'c' })])]);

describe('Snapshot', () => {
  it('finds RDS names in socket and API listeners', () => {
    expect(referencedRouteNames(l as never)).toEqual(['80']);
    expect(referencedRouteNames(apiListener('g', { rdsName: 'g-route' }) as never)).toEqual(['g-route']);
  });

  it('is consistent when every referenced RDS and EDS name is present', () => {
    const s = Snapshot.create('1', {
      [TypeUrl.Listener]: [l],
      [TypeUrl.RouteConfiguration]: [rc],
      [TypeUrl.Cluster]: [cluster({ name: 'c' }), cluster({ name: 'pass', type: 'ORIGINAL_DST' })],
      [TypeUrl.ClusterLoadAssignment]: [clusterLoadAssignment('c', [{ address: '10.0.0.1', port: 80 }])],
    });
    expect(s.consistencyProblems()).toEqual([]);
    expect(s.version(TypeUrl.Cluster)).toBe('1');
    expect([...s.resources(TypeUrl.Cluster).keys()]).toEqual(['c', 'pass']);
    // Encoded once, at creation; same bytes handed out every time.
    expect(s.resources(TypeUrl.Cluster).get('c')!.any).toBe(s.resources(TypeUrl.Cluster).get('c')!.any);
  });

  it('lists each missing reference', () => {
    const s = Snapshot.create({ [TypeUrl.Listener]: 'l1' }, {
      [TypeUrl.Listener]: [l],
      [TypeUrl.Cluster]: [cluster({ name: 'c', edsServiceName: 'c-eds' })],
    });
    expect(s.consistencyProblems()).toEqual([
      'listener "0.0.0.0_80" references route configuration "80" which is not in the snapshot',
      'cluster "c" references endpoints "c-eds" which are not in the snapshot',
    ]);
    expect(() => s.assertConsistent()).toThrow(SnapshotInconsistentError);
    expect(s.version(TypeUrl.Listener)).toBe('l1');
    expect(s.version(TypeUrl.Cluster)).toBe('');
  });

  it('refuses duplicate names and resources with no name', () => {
    expect(() => Snapshot.create('1', { [TypeUrl.Cluster]: [cluster({ name: 'c' }), cluster({ name: 'c' })] })).toThrow(/duplicate/);
    expect(() => Snapshot.create('1', { [TypeUrl.ClusterLoadAssignment]: [{ endpoints: [] }] })).toThrow(ResourceEncodingError);
  });

  it('names the resource whose encoding fails', () => {
    expect(() => Snapshot.create('1', { [TypeUrl.Cluster]: [{ name: 'bad', lb_policy: 'NOPE' as never }] })).toThrow(/Cluster resource "bad": .*lb_policy: "NOPE"/);
  });
});
