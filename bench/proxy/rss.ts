/**
 * Resident memory of one tsmesh proxy (not part of `npm test`; RSS is meaningful on a busy machine,
 * throughput is not): idle (connected to xDS, no resources), with the benchmark's sidecar config,
 * with a mesh of `--services` services, and each of those after `--load-seconds` at `--rate` rps.
 * Each case starts a fresh proxy from dist/apps/proxy/main.js with the image's flags and
 * environment (apps/proxy/launch.json); `--node-flags` / `--proxy-env` replace them (e.g.
 * `--node-flags="--max-semi-space-size=1"`) so flags can be compared. Each figure is reported as
 * RSS and split into anonymous (`anon*`: V8 heap, malloc, stacks) and file-backed (`file*`: the
 * node executable's pages, shared libraries) memory, with the proxy's CPU per 1,000 requests.
 *   node bench/proxy/run.mjs rss [--services 1000] [--rate 1000] [--load-seconds 5] [--node-flags ...] [--heap-snapshot dir]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import autocannon from 'autocannon';
import { AdsServer, SnapshotCache, Snapshot, TypeUrl } from '@tsmesh/xds';
import { meshConfig } from './config';
import { LAUNCH, launchEnv } from './launch';
import { freePort } from './ports';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const o = new Command()
  .option('--services <n>', 'services in the large config', (v) => Number(v), 1000)
  .option('--rate <rps>', 'load rate', (v) => Number(v), 1000)
  .option('--load-seconds <s>', 'seconds of load per case (0: none)', (v) => Number(v), 5)
  .option('--settle <s>', 'seconds to wait after config before sampling', (v) => Number(v), 3)
  .option('--node-flags <flags>', "flags for the proxy process (default: the image's, apps/proxy/launch.json; \"\" for none)", LAUNCH.nodeFlags.join(' '))
  .option('--proxy-env <vars>', "environment of the proxy process, space-separated NAME=value (default: the image's)", launchEnv())
  .option('--cases <list>', 'idle,sidecar,mesh', 'idle,sidecar,mesh')
  .option('--json', 'print one JSON line per case')
  .option('--heap-snapshot <dir>', 'write a V8 heap snapshot of each case, after its samples, into <dir> (for a retained-size breakdown)')
  .allowUnknownOption()
  .parse()
  .opts<{ services: number; rate: number; loadSeconds: number; settle: number; nodeFlags: string; proxyEnv: string; cases: string; json?: boolean; heapSnapshot?: string }>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / 100; // utime + stime, USER_HZ = 100
}

export function rssMb(pid: number): number {
  return memMb(pid).rss;
}

/** The resident set split into anonymous (heap, malloc, stacks) and file-backed (the node binary's pages, shared libraries) from /proc/<pid>/status. */
export function memMb(pid: number): { rss: number; anon: number; file: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => {
    const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(st);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
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
  if (o.heapSnapshot) flags.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${resolve(o.heapSnapshot)}`);
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
      const row: Record<string, number | string> = { case: kind, services: kind === 'mesh' ? o.services : kind === 'sidecar' ? 1 : 0, configMs: Math.round(configMs), ...mem('', child.pid!) };
      if (kind !== 'idle' && o.loadSeconds > 0) {
        const cpu0 = cpuSeconds(child.pid!);
        const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 16, overallRate: o.rate, duration: o.loadSeconds, headers: { host: 'upstream.bench' } });
        row.loadRps = Math.round(r.requests.average);
        // proxy CPU per 1,000 requests served: less sensitive to a busy machine than a maximum rate
        row.cpuMsPer1kReq = round((1e6 * (cpuSeconds(child.pid!) - cpu0)) / Math.max(1, r.requests.total));
        row.loadErrors = r.errors + r.non2xx;
        Object.assign(row, mem('Load', child.pid!));
        await sleep(o.settle * 1000);
        Object.assign(row, mem('After', child.pid!));
      }
      // last, as taking it grows the resident set
      if (o.heapSnapshot) {
        const before = new Set(readdirSync(resolve(o.heapSnapshot)));
        child.kill('SIGUSR2');
        await waitFor(`${kind}: heap snapshot`, () => readdirSync(resolve(o.heapSnapshot!)).some((f) => !before.has(f) && f.endsWith('.heapsnapshot')), 120_000);
        await sleep(3000);
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

function mem(when: string, pid: number): Record<string, number> {
  const m = memMb(pid);
  return { [`rss${when}Mb`]: round(m.rss), [`anon${when}Mb`]: round(m.anon), [`file${when}Mb`]: round(m.file) };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

void main();
