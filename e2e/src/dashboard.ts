/**
 * The web dashboard for the browser scenario: `tsmesh dashboard` run from the CLI's built bundle
 * (as a process, as an operator runs it) and headless Chromium from Debian driven by
 * playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';

/** Debian's Chromium (package `chromium`, installed by tools/env.sh). */
export const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';

/** Where screenshots go (gitignored). */
export const ARTIFACTS = join(import.meta.dirname, '../artifacts');

/** Why the browser scenario cannot run here, or null. */
export function browserUnavailable(root: string): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found (Debian package "chromium" not installed)`;
  for (const f of ['dist/apps/cli/main.js', 'dist/apps/dashboard/index.html']) if (!existsSync(join(root, f))) return `${f} is not built`;
  return null;
}

/** A running `tsmesh dashboard`. */
export interface DashboardProcess {
  url: string;
  stop(): Promise<void>;
}

/** Starts `node dist/apps/cli/main.js dashboard --port 0` and resolves with its URL once it listens. */
export async function startDashboardProcess(root: string, o: { controlPlane: string; prometheus?: string; windowSeconds?: number; otlp?: { host: string; port: number } }): Promise<DashboardProcess> {
  const args = [join(root, 'dist/apps/cli/main.js'), '--control-plane', o.controlPlane, 'dashboard', '--port', '0', '--window', String(o.windowSeconds ?? 10)];
  if (o.prometheus) args.push('--prometheus', o.prometheus);
  if (o.otlp) args.push('--otlp', `${o.otlp.host}:${o.otlp.port}`);
  const child: ChildProcess = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSMESH_PROMETHEUS: '' } });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tsmesh dashboard did not print its URL within 20 s: ${out}`)), 20_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /tsmesh dashboard: (http:\/\/\S+?)\/?\s/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tsmesh dashboard exited with ${code}: ${out}`));
    });
  });
  return {
    url,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }),
  };
}

/** Launches headless Chromium (no sandbox: the suite runs as root). */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
