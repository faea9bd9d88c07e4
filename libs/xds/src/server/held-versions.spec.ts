import { describe, expect, it } from 'vitest';
import { HeldVersions } from './held-versions';
import { encodeResource } from '../resource';
import { TypeUrl } from '../type-urls';
import { clusterLoadAssignment } from '../builders/endpoint';

const map = (names: string[]) => new Map(names.map((n) => [n, encodeResource(TypeUrl.ClusterLoadAssignment, clusterLoadAssignment(n, [{ address: '10.0.0.1', port: 80 }]))]));

describe('HeldVersions', () => {
  it('reads a snapshot map through the live subscription without copying it', () => {
    const m = map(['a', 'b', 'c']);
    const sub = new Set(['a', 'c', 'zz']);
    const h = new HeldVersions();
    h.hold(m, sub);
    expect(h.held).toBe(m);
    expect(h.get('a')).toBe(m.get('a')!.version);
    expect(h.get('b')).toBeUndefined();
    expect([...h.keys()].sort()).toEqual(['a', 'c']);
    expect(h.size).toBe(2);
  });

  it('copies the view once, before it diverges, and keeps what it held', () => {
    const m = map(['a', 'b']);
    const sub = new Set(['a']);
    const h = new HeldVersions();
    h.hold(m, sub);
    h.own();
    sub.add('b'); // the subscription grows: the client still holds only a
    expect(h.held).toBeUndefined();
    expect([...h.keys()]).toEqual(['a']);
    h.set('b', 'x');
    h.delete('a');
    expect([...h.keys()]).toEqual(['b']);
    expect(h.get('b')).toBe('x');
  });

  it('holds a whole map for a wildcard type', () => {
    const m = map(['a', 'b']);
    const h = new HeldVersions();
    h.hold(m);
    expect([...h.keys()]).toEqual(['a', 'b']);
  });
});

describe('NameSets', () => {
  it('makes equal subscriptions one object whatever the order, and keeps different ones apart', async () => {
    const { NameSets } = await import('./name-sets');
    const sets = new NameSets();
    const a = sets.intern(new Set(['x', 'y', 'z']));
    const b = sets.intern(new Set(['z', 'x', 'y']));
    const c = sets.intern(new Set(['x', 'y', 'w']));
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect([...c].sort()).toEqual(['w', 'x', 'y']);
    expect(sets.size).toBe(2);
  });
});

describe('HeldVersions.equals', () => {
  it('recognises a client holding exactly a snapshot map (for its subscription), and nothing less or more', () => {
    const m = map(['a', 'b']);
    const exact = new HeldVersions();
    for (const [n, r] of m) exact.set(n, r.version);
    expect(exact.equals(m)).toBe(true);
    const stale = new HeldVersions();
    stale.set('a', m.get('a')!.version);
    stale.set('b', 'old');
    expect(stale.equals(m)).toBe(false);
    const fewer = new HeldVersions();
    fewer.set('a', m.get('a')!.version);
    expect(fewer.equals(m)).toBe(false);
    expect(fewer.equals(m, new Set(['a', 'zz']))).toBe(true);
    expect(fewer.equals(m, new Set(['a', 'b']))).toBe(false);
  });
});
