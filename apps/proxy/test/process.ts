/** Helpers for tests that run the proxy as a real process: a bundle of src/main.ts and spawn helpers. */
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { resolve } from 'node:path';

const projectDir = resolve(import.meta.dirname, '..');
const root = resolve(projectDir, '../..');

/**
 * Bundles the proxy (like the build target) into node_modules/.cache/tsmesh-proxy-test/<tag>/main.mjs
 * (inside node_modules so npm packages resolve, and outside what lint sees); returns its path.
 */
export async function bundleProxy(tag: string): Promise<string> {
  const outdir = resolve(root, 'node_modules/.cache/tsmesh-proxy-test', tag);
  mkdirSync(outdir, { recursive: true });
  const outfile = resolve(outdir, 'main.mjs');
  await build({
    absWorkingDir: root,
    entryPoints: [resolve(projectDir, 'src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    tsconfig: resolve(root, 'tsconfig.base.json'),
    logLevel: 'error',
  });
  return outfile;
}

/** A spawned process with its output collected. */
export interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

/** Spawns a command, collecting stdout+stderr. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  child.stdout!.on('data', (d) => (buf += d));
  child.stderr!.on('data', (d) => (buf += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => buf, exited };
}

/** Waits until the collected output matches. */
export async function waitOutput(p: Proc, re: RegExp, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (re.test(p.out())) return;
    if (p.child.exitCode !== null) throw new Error(`process exited (${p.child.exitCode}): ${p.out()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${re}: ${p.out()}`);
}

/** Removes a bundle made by {@link bundleProxy}. */
export function removeBundle(main: string): void {
  rmSync(dirname(main), { recursive: true, force: true });
}
