/** Go-style durations for flags: `24h`, `90m`, `1h30m`, `3600s`, `2160h`, `90d` (days accepted too). */
import { CaConfigError } from './errors';

const UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses a duration into whole seconds; throws CaConfigError naming the flag. */
export function parseDurationSeconds(text: string, flag: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (const m of t.matchAll(re)) {
    total += Number(m[1]) * UNIT[m[2]];
    end = (m.index ?? 0) + m[0].length;
  }
  if (t === '' || end !== t.length) throw new CaConfigError(`${flag}: "${text}" is not a duration (e.g. 24h, 90m, 1h30m)`);
  return Math.round(total);
}
