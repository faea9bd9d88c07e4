/** Summarises a V8 `.cpuprofile` (as `node --cpu-prof` writes it): the functions with the most self time. */
import { readFileSync } from 'node:fs';

export interface ProfileEntry {
  /** Share of all samples, 0–100. */
  percent: number;
  fn: string;
  /** `dir/file:line` of the function (the last two path parts). */
  where: string;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
  endTime: number;
  startTime: number;
}

/**
 * The `top` functions by self time (idle and GC time are included under their V8 names). With
 * `lastSeconds`, only the samples of the profile's last seconds count (the load, not the start).
 */
export function topSelfTime(file: string, top = 15, lastSeconds?: number): ProfileEntry[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const from = lastSeconds === undefined ? -Infinity : prof.endTime - lastSeconds * 1e6;
  const counts = new Map<number, number>();
  let t = prof.startTime;
  let total = 0;
  prof.samples.forEach((s, i) => {
    t += prof.timeDeltas[i] ?? 0;
    if (t < from) return;
    counts.set(s, (counts.get(s) ?? 0) + 1);
    total++;
  });
  const byFn = new Map<string, { fn: string; where: string; n: number }>();
  for (const n of prof.nodes) {
    const c = counts.get(n.id) ?? 0;
    if (!c) continue;
    const fn = n.callFrame.functionName || '(anonymous)';
    const where = n.callFrame.url ? `${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}` : '';
    const k = `${fn} ${where}`;
    const e = byFn.get(k) ?? { fn, where, n: 0 };
    e.n += c;
    byFn.set(k, e);
  }
  total = Math.max(1, total);
  return [...byFn.values()].sort((a, b) => b.n - a.n).slice(0, top).map((e) => ({ percent: Math.round((1000 * e.n) / total) / 10, fn: e.fn, where: e.where }));
}
