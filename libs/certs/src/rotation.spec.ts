import { describe, expect, it } from 'vitest';
import { renewAt } from './rotation';

describe('renewAt', () => {
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-01-02T00:00:00Z');

  it('renews at half-life by default', () => {
    expect(renewAt({ notBefore, notAfter }).toISOString()).toBe('2026-01-01T12:00:00.000Z');
  });

  it('spreads by ±jitter of the lifetime', () => {
    expect(renewAt({ notBefore, notAfter }, { jitter: 0.1, random: () => 0 }).toISOString()).toBe('2026-01-01T09:36:00.000Z');
    expect(renewAt({ notBefore, notAfter }, { jitter: 0.1, random: () => 0.999999 }).getTime()).toBeLessThanOrEqual(Date.parse('2026-01-01T14:24:00Z'));
  });

  it('stays inside the validity window', () => {
    expect(renewAt({ notBefore, notAfter }, { fraction: 0.95, jitter: 0.5, random: () => 0.99 }).getTime()).toBeLessThanOrEqual(notAfter.getTime());
    expect(renewAt({ notBefore, notAfter }, { fraction: 0.05, jitter: 0.5, random: () => 0 }).getTime()).toBe(notBefore.getTime());
  });
});
