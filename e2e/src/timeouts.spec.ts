import { describe, expect, it } from 'vitest';
import { hookTimeoutFor } from './timeouts';

describe('the suite setup hook', () => {
  it('gets 40 minutes on kind (cluster, seven image builds and loads, rollout), 5 on the local driver', () => {
    expect(hookTimeoutFor('kind')).toBeGreaterThanOrEqual(40 * 60_000);
    expect(hookTimeoutFor(undefined)).toBe(300_000);
  });
});
