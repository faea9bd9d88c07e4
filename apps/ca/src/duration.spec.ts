import { describe, expect, it } from 'vitest';
import { parseDurationSeconds } from './duration';

describe('parseDurationSeconds', () => {
  it('reads Go-style durations and days', () => {
    expect(parseDurationSeconds('24h', 'x')).toBe(86400);
    expect(parseDurationSeconds('1h30m', 'x')).toBe(5400);
    expect(parseDurationSeconds('90d', 'x')).toBe(90 * 86400);
    expect(parseDurationSeconds('3600', 'x')).toBe(3600);
    expect(parseDurationSeconds('1.5h', 'x')).toBe(5400);
  });

  it('names the flag of a bad duration', () => {
    expect(() => parseDurationSeconds('tomorrow', '--max-ttl')).toThrow(/--max-ttl: "tomorrow" is not a duration/);
    expect(() => parseDurationSeconds('24h junk', '--max-ttl')).toThrow(/not a duration/);
    expect(() => parseDurationSeconds('', '--max-ttl')).toThrow(/not a duration/);
  });
});
