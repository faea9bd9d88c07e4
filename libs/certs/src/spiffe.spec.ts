import { describe, expect, it } from 'vitest';
import { formatSpiffeId, isSpiffeId, parseServiceAccountUsername, parseSpiffeId } from './spiffe';
import { InvalidSpiffeIdError } from './errors';

describe('SPIFFE IDs', () => {
  it('round-trips a workload identity', () => {
    const uri = formatSpiffeId({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'callme' });
    expect(uri).toBe('spiffe://cluster.local/ns/default/sa/callme');
    expect(parseSpiffeId(uri)).toEqual({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'callme' });
  });

  it('names what is wrong with a bad ID', () => {
    expect(() => parseSpiffeId('https://cluster.local/ns/a/sa/b')).toThrow(/scheme must be "spiffe"/);
    expect(() => parseSpiffeId('spiffe://cluster.local/ns/a')).toThrow(/path must be/);
    expect(() => parseSpiffeId('spiffe://cluster.local/ns/A_B/sa/b')).toThrow(/namespace "A_B"/);
    expect(() => formatSpiffeId({ trustDomain: 'Bad Domain', namespace: 'a', serviceAccount: 'b' })).toThrow(InvalidSpiffeIdError);
    expect(isSpiffeId('spiffe://td/ns/a/sa/b.c')).toBe(true);
    expect(isSpiffeId('spiffe://td/ns/a/sa/')).toBe(false);
  });

  it('maps a service-account username to namespace and name', () => {
    expect(parseServiceAccountUsername('system:serviceaccount:default:sleep')).toEqual({ namespace: 'default', serviceAccount: 'sleep' });
    expect(parseServiceAccountUsername('system:node:kind-worker')).toBeNull();
    expect(parseServiceAccountUsername('system:serviceaccount:a:b:c')).toBeNull();
  });
});
