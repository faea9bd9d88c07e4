/**
 * Regenerates the dashboard screenshot shown in README.md (docs/images/dashboard.png): the whole
 * mesh on the local runtime (infra/k8s/base) with Debian's Prometheus, traffic through the gateway
 * (todolist 90/10, caller → callme 20/80), `tsmesh dashboard` over both, and headless Chromium
 * (Debian's, driven by playwright-core) photographing the page once every call is drawn.
 *
 *   nx run-many -t build -p proxy control-plane ca injector todolist caller callme local-runtime cli dashboard
 *   sudo flock /tmp/tsmesh-e2e.lock node --import tsx tools/dashboard-screenshot.ts [out.png]
 *
 * Needs Linux, root, /usr/bin/prometheus and /usr/bin/chromium (tools/env.sh installs both).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { LocalRuntime, startPrometheus, scrapePodsOf } from '@tsmesh/local-runtime';
import { startDashboard } from '../apps/cli/src/dashboard/server';

const root = resolve(import.meta.dirname, '..');
const out = resolve(process.argv[2] ?? join(root, 'docs/images/dashboard.png'));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const rt = await LocalRuntime.start({ workspaceRoot: root, manifests: [join(root, 'infra/k8s/base')], gatewayCertHosts: ['localhost'], log: () => {} });
let stop = false;
const cleanups: (() => Promise<unknown>)[] = [() => rt.stop()];
try {
  await rt.waitReady({ timeoutMs: 240_000 });
  console.log(`mesh up (${rt.pods().length} pods)`);
  const prom = await startPrometheus({ dir: join(rt.runDir, 'prometheus'), port: await freePort(), pods: () => scrapePodsOf(rt), scrapeIntervalSeconds: 1, refreshMs: 1000 });
  cleanups.unshift(() => prom.stop());
  const cp = rt.pods().find((p) => p.namespace === 'istio-system' && p.labels.app === 'istiod');
  if (!cp) throw new Error('no control plane pod');
  const dash = await startDashboard({ port: 0, controlPlane: `http://${cp.ip}:15014`, prometheus: prom.url, windowSeconds: 15 });
  cleanups.unshift(() => dash.close());
  const gw = `http://127.0.0.1:${rt.hostPort(80)}`;
  const loop = async (url: string, everyMs: number) => {
    while (!stop) {
      await fetch(url).then((r) => r.arrayBuffer()).catch(() => undefined);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  const load = Promise.all([loop(`${gw}/`, 40), loop(`${gw}/`, 40), loop(`${gw}/caller/ping`, 100)]);
  cleanups.unshift(async () => {
    stop = true;
    await load;
  });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  cleanups.unshift(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 }, deviceScaleFactor: 1 });
  // let 15 s of traffic fill the rate window, then wait until every call is drawn
  await new Promise((r) => setTimeout(r, 15_000));
  await page.goto(`${dash.url}/`);
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('[data-testid=edge]').length >= 5, undefined, { timeout: 60_000 });
  await new Promise((r) => setTimeout(r, 2500));
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  for (const c of cleanups) await c().catch((err: Error) => console.error(`cleanup: ${err.message}`));
}
