/**
 * The HTTP/1.1 parser against Node's llhttp: generated and mutated requests and responses split
 * at random offsets (see test/http1-fuzz.ts). `npm test` runs a fixed seed and 100,000 cases;
 * `TSMESH_HTTP1_FUZZ=<cases>` (and optionally `TSMESH_HTTP1_FUZZ_SEED`) runs a longer one.
 */
import { describe, expect, it } from 'vitest';
import { DELIBERATE, fuzz } from './http1-fuzz';

const long = Number(process.env.TSMESH_HTTP1_FUZZ ?? 0);
const seed = Number(process.env.TSMESH_HTTP1_FUZZ_SEED ?? 0x5eed);

describe('HTTP/1.1 codec vs llhttp (differential fuzz)', () => {
  it(`agrees with llhttp on ${long || 100_000} generated and mutated messages (seed ${seed})`, async () => {
    const r = await fuzz(seed, long || 100_000);
    expect(r.failures).toEqual([]);
    expect(r.cases).toBe(long || 100_000);
    // the generator must exercise both sides of the comparison
    expect(r.bothAccepted).toBeGreaterThan(r.cases / 5);
    expect(r.bothRejected).toBeGreaterThan(r.cases / 5);
    // only the listed differences, each with its RFC reason
    for (const reason of Object.keys(r.stricter)) expect(DELIBERATE[reason]).toBeTruthy();
  }, 120_000);
});
