/**
 * Resident memory of one tsmesh proxy (not part of `npm test`; RSS is meaningful on a busy machine,
 * throughput is not): idle (connected to xDS, no resources), with the benchmark's sidecar config,
 * with a mesh of `--services` services, and each of those after `--load-seconds` at `--rate` rps.
 * Each case starts a fresh proxy from dist/apps/proxy/main.js; `--node-flags` passes V8/Node
 * flags to it (e.g. `--node-flags="--max-semi-space-size=1"`) so flags can be compared.
 *   node bench/proxy/run.mjs --rss [--services 1000] [--rate 1000] [--load-seconds 5] [--node-flags ...]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import autocannon from 'autocannon';
import { AdsServer, SnapshotCache, Snapshot, TypeUrl } from '@tsmesh/xds';
import { meshConfig } from './config';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const o = new Command()
  .option('--services <n>', 'services in the large config', (v) => Number(v), 1000)
  .option('--rate <rps>', 'load rate', (v) => Number(v), 1000)
  .option('--load-seconds <s>', 'seconds of load per case (0: none)', (v) => Number(v), 5)
  .option('--settle <s>', 'seconds to wait after config before sampling', (v) => Number(v), 3)
  .option('--node-flags <flags>', 'flags for the proxy process', '')
  .option('--proxy-env <vars>', 'environment of the proxy process, space-separated NAME=value (the image sets MALLOC_ARENA_MAX=2)', '')
  .option('--cases <list>', 'idle,sidecar,mesh', 'idle,sidecar,mesh')
  .option('--json', 'print one JSON line per case')
  .allowUnknownOption()
  .parse()
  .opts<{ services: number; rate: number; loadSeconds: number; settle: number; nodeFlags: string; proxyEnv: string; cases: string; json?: boolean }>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / 100; // utime + stime, USER_HZ = 100
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => res(p));
    });
  });
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  const proxyMain = resolve(root, 'dist/apps/proxy/main.js');
  if (!existsSync(proxyMain)) execFileSync(process.execPath, ['tools/build.mjs', 'apps/proxy', 'src/main.ts'], { cwd: root, stdio: 'inherit' });
  const body = 'x'.repeat(1024);
  const up = http.createServer((_q, s) => { s.writeHead(200, { 'content-length': '1024', 'content-type': 'text/plain' }); s.end(body); });
  up.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upPort = (up.address() as net.AddressInfo).port;
  const cache = new SnapshotCache();
  const ads = new AdsServer({ cache });
  const adsPort = await ads.listen('127.0.0.1:0');
  const flags = o.nodeFlags.split(/\s+/).filter(Boolean);
  const out: Record<string, number | string>[] = [];
  let seq = 0;
  for (const kind of o.cases.split(',')) {
    const port = await freePort();
    const pod = `rss-${kind}-${++seq}`;
    const nodeId = `sidecar~127.0.0.1~${pod}.default~default.svc.cluster.local`;
    const resources = kind === 'idle' ? {} : meshConfig(kind === 'mesh' ? o.services : 0, port, upPort);
    cache.setSnapshot(nodeId, Snapshot.create('1', resources));
    const [a, s, p] = [await freePort(), await freePort(), await freePort()];
    const child: ChildProcess = spawn(process.execPath, [...flags, proxyMain, 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${adsPort}`, '--admin-port', String(a), '--status-port', String(s),
      '--prometheus-port', String(p), '--merged-metrics-port', 'off', '--log-level', 'warn', '--access-log', 'off'], { env: { ...process.env, ...Object.fromEntries(o.proxyEnv.split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])), POD_NAME: pod, POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      const t0 = performance.now();
      // configured: every type sent to the node is ACKed at version 1
      await waitFor(`${kind}: config ACKed`, () => {
        const st = ads.status.get(nodeId);
        if (!st) return false;
        const want = kind === 'idle' ? [TypeUrl.Cluster, TypeUrl.Listener] : [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];
        return want.every((t) => st.types.get(t)?.ackedVersion === '1');
      });
      const configMs = performance.now() - t0;
      await sleep(o.settle * 1000);
      const row: Record<string, number | string> = { case: kind, services: kind === 'mesh' ? o.services : kind === 'sidecar' ? 1 : 0, configMs: Math.round(configMs), rssMb: round(rssMb(child.pid!)) };
      if (kind !== 'idle' && o.loadSeconds > 0) {
        const cpu0 = cpuSeconds(child.pid!);
        const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 16, overallRate: o.rate, duration: o.loadSeconds, headers: { host: 'upstream.bench' } });
        row.loadRps = Math.round(r.requests.average);
        // proxy CPU per 1,000 requests served: less sensitive to a busy machine than a maximum rate
        row.cpuMsPer1kReq = round((1e6 * (cpuSeconds(child.pid!) - cpu0)) / Math.max(1, r.requests.total));
        row.loadErrors = r.errors + r.non2xx;
        row.rssLoadMb = round(rssMb(child.pid!));
        await sleep(o.settle * 1000);
        row.rssAfterMb = round(rssMb(child.pid!));
      }
      out.push(row);
      console.log(o.json ? JSON.stringify({ flags: o.nodeFlags, env: o.proxyEnv, ...row }) : `${kind}: ${Object.entries(row).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    } finally {
      child.kill('SIGKILL');
    }
  }
  up.close();
  await ads.close();
  process.exit(0);
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

void main();
