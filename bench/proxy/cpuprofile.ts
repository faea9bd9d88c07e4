/**
 * Summarises a V8 `.cpuprofile` (as `node --cpu-prof` writes it): the functions with the most self
 * time, and the busy samples by kind of code.
 */
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

/** The samples of the profile's last `lastSeconds` (all of them without), as node id → count, and their number. */
function sampleCounts(prof: CpuProfile, lastSeconds?: number): { counts: Map<number, number>; total: number } {
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
  return { counts, total };
}

/** What a busy sample was running. */
export type CodeKind =
  /** the process's own JavaScript: any script that is not one of Node's built-in modules */
  | 'script'
  /** Node's built-in JavaScript (`node:` modules: streams, net, timers, …) */
  | 'node'
  /**
   * a native function the profile names on its own (a binding such as a socket's or a file's
   * `writeBuffer`, its system call included); some other bindings' native work is charged to the
   * JavaScript function that calls them instead
   */
  | 'native'
  /** native code outside any JavaScript frame (libuv delivering reads and accepts, V8's runtime, the compiler) */
  | 'program'
  /** V8's garbage collector on the main thread */
  | 'gc';

export const CODE_KINDS: readonly CodeKind[] = ['script', 'node', 'native', 'program', 'gc'];

/**
 * The busy samples (every sample but `(idle)`, the event loop waiting for I/O) by {@link CodeKind}:
 * shares 0–1 that sum to 1, and how many busy samples there were.
 */
export function busyByKind(file: string, lastSeconds?: number): { share: Record<CodeKind, number>; samples: number } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { counts } = sampleCounts(prof, lastSeconds);
  const n: Record<CodeKind, number> = { script: 0, node: 0, native: 0, program: 0, gc: 0 };
  let busy = 0;
  for (const node of prof.nodes) {
    const c = counts.get(node.id) ?? 0;
    if (!c) continue;
    const { functionName: fn, url } = node.callFrame;
    if (fn === '(idle)') continue;
    const kind: CodeKind = fn === '(garbage collector)' ? 'gc' : fn === '(program)' ? 'program' : url === '' ? 'native' : url.startsWith('node:') ? 'node' : 'script';
    n[kind] += c;
    busy += c;
  }
  const d = Math.max(1, busy);
  return { share: { script: n.script / d, node: n.node / d, native: n.native / d, program: n.program / d, gc: n.gc / d }, samples: busy };
}

/**
 * The `top` functions by self time (idle and GC time are included under their V8 names). With
 * `lastSeconds`, only the samples of the profile's last seconds count (the load, not the start).
 */
export function topSelfTime(file: string, top = 15, lastSeconds?: number): ProfileEntry[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { counts, total: sampled } = sampleCounts(prof, lastSeconds);
  let total = sampled;
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
