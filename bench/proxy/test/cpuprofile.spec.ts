/**
 * bench/proxy's reading of CPU profiles: real profiles written by `node --cpu-prof` from processes
 * whose busy time is known to be of one kind, classified by `busyByKind`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { busyByKind, CODE_KINDS, topSelfTime } from '../cpuprofile';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cpuprofile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `source` as a script under --cpu-prof and returns the profile's path. */
function profileOf(name: string, source: string): string {
  const script = join(dir, `${name}.js`);
  const out = join(dir, name);
  writeFileSync(script, source);
  execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${out}`, '--cpu-prof-interval', '200', script], { stdio: 'ignore', timeout: 30_000 });
  const file = readdirSync(out).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written for ${name}`);
  return join(out, file);
}

describe('bench/proxy CPU profile kinds', () => {
  it("a loop in the script's own code is 'script' time, and the shares sum to 1", () => {
    const file = profileOf('loop', `
      function spin(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003; return x; }
      const end = Date.now() + 400; let y = 0; while (Date.now() < end) y += spin(1e5);
      if (y < 0) console.log(y);`);
    const { share, samples } = busyByKind(file);
    expect(samples).toBeGreaterThan(100);
    expect(CODE_KINDS.reduce((a, k) => a + share[k], 0)).toBeCloseTo(1, 6);
    expect(share.script).toBeGreaterThan(0.8);
    expect(topSelfTime(file, 3).map((e) => e.fn)).toContain('spin');
  });

  it("writes in a loop are 'native' time (the binding with its system call), and time asleep is not busy", () => {
    const file = profileOf('native', `
      const fs = require('node:fs');
      const fd = fs.openSync('/dev/null', 'w');
      const b = Buffer.alloc(64 * 1024);
      const end = Date.now() + 400; while (Date.now() < end) fs.writeSync(fd, b);
      setTimeout(() => {}, 300);`);
    const { share } = busyByKind(file);
    expect(share.native).toBeGreaterThan(0.6);
    expect(share.script).toBeLessThan(0.3);
    // the 300 ms asleep at the end are (idle): left out of the busy shares, present in the top list
    expect(topSelfTime(file, 5).map((e) => e.fn)).toContain('(idle)');
  });

  it("Node's own JavaScript is 'node' time", () => {
    const file = profileOf('node', `
      const { format } = require('node:util');
      const end = Date.now() + 400; let n = 0; while (Date.now() < end) n += format('%s=%d %j', 'k', 42, { a: [1, 2, 3] }).length;
      if (n < 0) console.log(n);`);
    const { share } = busyByKind(file);
    expect(share.node).toBeGreaterThan(0.5);
  });
});
