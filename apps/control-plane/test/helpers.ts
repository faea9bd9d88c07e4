/** Test helpers: temp config dirs, a Discovery with a file store, waiting. */
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { FileStore } from '../src/config/file-store';
import { Discovery, type DiscoveryOptions } from '../src/server/discovery';
import { startMonitoring } from '../src/server/monitoring';

export const golden = (f: string) => fileURLToPath(new URL(`../testdata/golden/${f}`, import.meta.url));

/** Polls `cond` every 10 ms until it holds or `timeoutMs` passes. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A running control plane over a temp config dir. */
export interface Running {
  dir: string;
  discovery: Discovery;
  xdsPort: number;
  monitoringPort: number;
  write(name: string, text: string): void;
  close(): Promise<void>;
}

/** Starts Discovery + monitoring on loopback over a fresh temp dir holding `files` (copied from testdata/golden). */
export async function startControlPlane(files: string[], opts: { debounceMs?: number } & Partial<Omit<DiscoveryOptions, 'stores'>> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cp-'));
  for (const f of files) copyFileSync(golden(f), join(dir, f));
  const discovery = new Discovery({ debounceMaxMs: 2000, ...opts, stores: [new FileStore(dir)], debounceMs: opts.debounceMs ?? 100 });
  let mon: { server: Server; port: number } | undefined;
  try {
    await discovery.start();
    const xdsPort = await discovery.listen('127.0.0.1:0');
    mon = await startMonitoring(discovery, '127.0.0.1', 0);
    return {
      dir, discovery, xdsPort, monitoringPort: mon.port,
      write: (name, text) => writeFileSync(join(dir, name), text),
      close: async () => {
        mon?.server.close();
        await discovery.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    mon?.server.close();
    await discovery.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
