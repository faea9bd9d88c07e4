/**
 * The proxy's CPU cost per request, for comparing two builds on a busy machine (not part of the
 * benchmark results): a fixed number of 1 KiB keep-alive GETs from a raw-socket client through
 * one tsmesh proxy (the bench's one-proxy sidecar config, telemetry on, access log off) or through
 * the mTLS pair, against an nginx upstream; prints the proxies' CPU-seconds (utime + stime from
 * /proc) per 100,000 requests, the garbage collections they ran (--trace-gc) and, with
 * `--profile`, the top self-time entries of a --cpu-prof of the first proxy. CPU per request
 * depends little on how busy the machine is, unlike the rate.
 * `--alloc` samples the first proxy's allocations (the inspector's sampling heap profiler, counting
 * objects the garbage collector has since freed) over the measured requests and prints the
 * allocating functions by bytes per request.
 * `--instructions` runs the measured process (the first proxy, nginx or the forwarder) under
 * Valgrind's callgrind and prints the instructions it executed in user space per request, counted
 * over the measured requests only: a figure that does not move with the machine's load or with
 * other tenants of the host, unlike CPU time (kernel work is not counted; the process runs ~50×
 * slower, so use a few thousand requests).
 * `--rate` paces the requests (open loop, as the benchmark's fixed rate) instead of sending each
 * connection's next request as soon as the last is answered: at 1,000 rps every request wakes the
 * proxy on its own, which costs several times the per-request CPU of a saturated proxy.
 *   node --import tsx bench/proxy/cost.ts [--case one|mtls|nginx|forwarder] [--rate 1000] [--requests 200000] [--connections 32] [--repeat 3] [--profile [--profile-server]] [--alloc] [--instructions]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import {
  AdsServer, SnapshotCache, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost,
  downstreamTlsContext, ExtensionTypeUrl, pack, sdsCommonTlsContext, tlsCertificateSecret, upstreamTlsContext, validationContextSecret,
} from '@tsmesh/xds';
import { createRootCa, createWorkloadCert } from '@tsmesh/certs';
import { topSelfTime } from './cpuprofile';
import { LAUNCH } from './launch';
import { freePort, waitPort } from './ports';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const o = new Command()
  .option('--case <name>', 'one (one proxy), mtls (client+server proxies over mTLS), nginx (one nginx reverse proxy, the reference) or forwarder (a minimal Node.js forwarder, forwarder.mjs: the floor of Node itself)', 'one')
  .option('--requests <n>', 'requests per measurement', (v) => Number(v), 200_000)
  .option('--connections <n>', 'keep-alive connections of the client', (v) => Number(v), 32)
  .option('--rate <rps>', 'pace the requests at this rate (0: each connection sends its next request as soon as the last is answered)', (v) => Number(v), 0)
  .option('--warmup <n>', 'requests before the measurements (default: a quarter of --requests)', (v) => Number(v))
  .option('--settle <s>', 'seconds to wait after the proxies listen, before the warm-up (the heap compaction of a large config runs 1 s after its last update)', (v) => Number(v), 3)
  .option('--repeat <n>', 'measurements (after one warm-up of a quarter of the requests)', (v) => Number(v), 3)
  .option('--profile', 'profile the first proxy (--cpu-prof) and print its top self-time entries')
  .option('--profile-server', 'with --case mtls and --profile or --instructions: measure the server-side proxy instead of the client-side one')
  .option('--profile-out <file>', 'keep the .cpuprofile there')
  .option('--instructions', 'run the measured process under callgrind and print user-space instructions per request')
  .option('--instructions-out <file>', "with --instructions: keep the last run's callgrind dump there (callgrind_annotate reads it)")
  .option('--alloc', "sample the first proxy's allocations over the measured requests and print bytes per request by allocating function")
  .option('--proxy-main <file>', 'the proxy build to run', 'dist/apps/proxy/main.js')
  .option('--proxy-node-flags <flags>', "V8/Node flags for the proxies (the image's: apps/proxy/launch.json)", LAUNCH.nodeFlags.join(' '))
  .parse()
  .opts<{ case: string; settle: number; rate: number; requests: number; connections: number; repeat: number; profile?: boolean; profileServer?: boolean; alloc?: boolean; instructions?: boolean; instructionsOut?: string; warmup?: number; profileOut?: string; proxyNodeFlags: string; proxyMain: string }>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const procs: ChildProcess[] = [];

/** With `--instructions`: where callgrind writes, set by main(). */
let callgrindOut = '';

/** `cmd args`, under callgrind (instrumentation off until the measured requests) with `--instructions` when `measured`. */
function launch(cmd: string, args: string[], measured: boolean): [string, string[]] {
  if (!o.instructions || !measured) return [cmd, args];
  return ['valgrind', ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${callgrindOut}`, `--log-file=${callgrindOut}.log`, cmd, ...args]];
}

/** Instructions callgrind counted since it was last zeroed, from a dump of process `pid`. */
function dumpInstructions(pid: number): number {
  const before = new Set(readdirSync(dirname(callgrindOut)));
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
  const file = readdirSync(dirname(callgrindOut)).find((f) => !before.has(f) && f.startsWith(basename(callgrindOut)) && !f.endsWith('.log'));
  if (!file) throw new Error('callgrind wrote no dump');
  if (o.instructionsOut) copyFileSync(join(dirname(callgrindOut), file), o.instructionsOut);
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(join(dirname(callgrindOut), file), 'utf8'));
  if (!m) throw new Error(`no instruction total in ${file}`);
  return Number(m[1]);
}

/** [user, system] CPU-seconds of a process (clock ticks of USER_HZ = 100). */
function cpuSeconds(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return [Number(parts[11]) / 100, Number(parts[12]) / 100];
}

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nhost: upstream.bench\r\nuser-agent: cost\r\n\r\n', 'latin1');

/** `total` requests over `connections` keep-alive connections, one in flight on each; resolves with the non-200 count. */
function load(port: number, total: number, connections: number): Promise<number> {
  return new Promise((done, fail) => {
    let sent = 0;
    let answered = 0;
    let bad = 0;
    // --rate: requests go out on a 1 ms pacer to whichever connection is idle (open loop), as at the bench's fixed rate
    const idle: net.Socket[] = [];
    const t0 = performance.now();
    const pacer = o.rate > 0 ? setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * o.rate));
      while (sent < due && idle.length) { sent++; idle.pop()!.write(REQUEST); }
    }, 1) : undefined;
    for (let i = 0; i < connections; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      let buf: Buffer = Buffer.alloc(0);
      let need = -1;
      const next = () => {
        if (sent >= total) { s.end(); return; }
        if (pacer) { idle.push(s); return; }
        sent++;
        s.write(REQUEST);
      };
      s.on('connect', next);
      s.on('error', fail);
      s.on('data', (b: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, b]) : b;
        for (;;) {
          if (need < 0) {
            const e = buf.indexOf('\r\n\r\n');
            if (e < 0) return;
            const head = buf.toString('latin1', 0, e);
            if (!head.startsWith('HTTP/1.1 200')) bad++;
            const m = /\r\ncontent-length: *(\d+)/i.exec(head);
            need = e + 4 + (m ? Number(m[1]) : 0);
          }
          if (buf.length < need) return;
          buf = buf.subarray(need);
          need = -1;
          if (++answered === total) { if (pacer) clearInterval(pacer); done(bad); }
          next();
        }
      });
    }
  });
}

interface SamplingNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: SamplingNode[] }

/** A DevTools protocol session with a process started with `--inspect=127.0.0.1:<port>`. */
async function inspector(port: number): Promise<(method: string, params?: object) => Promise<Record<string, unknown>>> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
  let id = 0;
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown> };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result ?? {});
  };
  return (method, params = {}) => new Promise((r) => { const i = ++id; waiting.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
}

/** Bytes per request by allocating function (self size, freed objects included), from a sampling heap profile. */
function allocationsPerRequest(head: SamplingNode, requests: number, top = 30): string[] {
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: SamplingNode) => {
    if (n.selfSize) {
      const cf = n.callFrame;
      const k = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : ''}`;
      by.set(k, (by.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(head);
  return [`allocated ${(total / requests).toFixed(0)} bytes per request; by function:`,
    ...[...by].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => `${(v / requests).toFixed(0).padStart(7)} B  ${k}`)];
}

/** Warm-up, then `--repeat` measurements of `--requests` requests: CPU-seconds per 100k requests of `proxies`. */
async function measure(front: number, proxies: ChildProcess[], gcs0: () => number[][], inspect?: number): Promise<void> {
  if (proxies.length && o.settle > 0) await new Promise((r) => setTimeout(r, o.settle * 1000));
  console.log(`case ${o.case}, ${o.requests} requests × ${o.repeat}, ${o.connections} connections${o.rate ? `, paced at ${o.rate} rps` : ''}, proxy pids ${proxies.map((p) => p.pid).join(' ')}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    await load(front, o.warmup ?? Math.ceil(o.requests / 4), o.connections);
    const counted = o.instructions ? proxies[o.case === 'mtls' && o.profileServer ? 1 : 0].pid! : 0;
    if (counted) execFileSync('callgrind_control', ['--instr=on', String(counted)], { stdio: 'ignore' });
    const session = inspect === undefined ? null : await inspector(inspect);
    if (session) await session('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let r = 0; r < o.repeat; r++) {
      const c0 = proxies.map((p) => cpuSeconds(p.pid!));
      const g0 = gcs0();
      if (counted) execFileSync('callgrind_control', ['--zero', String(counted)], { stdio: 'ignore' });
      const t0 = performance.now();
      const bad = await load(front, o.requests, o.connections);
      const secs = (performance.now() - t0) / 1000;
      const cpu = proxies.map((p, i) => { const c = cpuSeconds(p.pid!); return [c[0] - c0[i][0], c[1] - c0[i][1]]; });
      const g1 = gcs0();
      const k = 100_000 / o.requests;
      const per100k = cpu.map(([u, sy]) => `${((u + sy) * k).toFixed(3)} (user ${(u * k).toFixed(3)}, sys ${(sy * k).toFixed(3)})`);
      const gcs = g1.map((g, i) => `${g[0] - g0[i][0]} scavenges, ${g[1] - g0[i][1]} mark-compacts`);
      const ir = counted ? `; ${(dumpInstructions(counted) / o.requests).toFixed(0)} instructions per request (user space, pid ${counted})` : '';
      console.log(`run ${r + 1}: ${(o.requests / secs).toFixed(0)} rps, proxy CPU-s per 100k requests ${per100k.join(' + ')}; ${gcs.join(' / ')}; non-200 ${bad}; load ${loadavg()[0].toFixed(2)}${ir}`);
    }
    if (session) {
      const { profile } = (await session('HeapProfiler.stopSampling')) as unknown as { profile: { head: SamplingNode } };
      for (const line of allocationsPerRequest(profile.head, o.requests * o.repeat)) console.log(line);
    }
}

async function main(): Promise<void> {
  const proxyMain = resolve(root, o.proxyMain);
  if (!existsSync(proxyMain)) throw new Error('build the proxy first: npx nx build proxy');
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cost-'));
  callgrindOut = join(dir, 'callgrind.out');
  try {
    const up = await freePort();
    writeFileSync(join(dir, 'index.html'), 'x'.repeat(1024));
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'nginx.conf'), `daemon off; master_process off; worker_processes 1; error_log ${dir}/logs/error.log warn; pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${up}; location / { root ${dir}; try_files /index.html =404; default_type text/plain; } } }
`);
    procs.push(spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' }));
    if (o.case === 'forwarder') {
      // the floor: the same Node.js, flags and environment, minimal forwarding only (forwarder.mjs)
      const front = await freePort();
      const f = spawn(...launch(process.execPath, [...o.proxyNodeFlags.split(/\s+/).filter(Boolean), resolve(root, 'bench/proxy/forwarder.mjs')], true), {
        stdio: 'inherit', env: { ...process.env, ...LAUNCH.env, FORWARDER_LISTEN: String(front), FORWARDER_UPSTREAM: String(up) },
      });
      procs.push(f);
      await waitPort(up);
      await waitPort(front);
      await measure(front, [f], () => []);
      return;
    }
    if (o.case === 'nginx') {
      // the reference: one nginx reverse proxy as bench.ts configures it, measured the same way
      const front = await freePort();
      const nd = join(dir, 'front');
      mkdirSync(join(nd, 'logs'), { recursive: true });
      writeFileSync(join(nd, 'nginx.conf'), `daemon off; master_process off; worker_processes 1; error_log ${nd}/logs/error.log warn; pid ${nd}/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s; client_body_temp_path ${nd}/b; proxy_temp_path ${nd}/p; fastcgi_temp_path ${nd}/f; uwsgi_temp_path ${nd}/u; scgi_temp_path ${nd}/s;
  upstream u { server 127.0.0.1:${up}; keepalive 128; keepalive_requests 1000000; }
  server { listen 127.0.0.1:${front}; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_buffering on; } } }
`);
      const ng = spawn(...launch('nginx', ['-p', nd, '-c', join(nd, 'nginx.conf')], true), { stdio: 'ignore' });
      procs.push(ng);
      await waitPort(up);
      await waitPort(front);
      await measure(front, [ng], () => []);
      return;
    }

    const cache = new SnapshotCache();
    const ads = new AdsServer({ cache });
    const adsPort = await ads.listen('127.0.0.1:0');
    const [front, inbound] = [await freePort(), await freePort()];
    const lst = (name: string, p: number, rds: string) => listener({ name, address: '127.0.0.1', port: p, filterChains: [{ filters: [httpConnectionManager({ statPrefix: name, rdsName: rds })] }] });
    const rc = (name: string, c: string) => routeConfiguration(name, [virtualHost(name, ['*'], [route({ cluster: c, timeoutMs: 0 })])]);
    const cUp = cluster({ name: 'outbound|80||upstream.bench' });
    const eUp = clusterLoadAssignment(cUp.name!, [{ address: '127.0.0.1', port: up }]);
    const idA = 'sidecar~127.0.0.1~cost-a.default~default.svc.cluster.local';
    const idB = 'sidecar~127.0.0.1~cost-b.default~default.svc.cluster.local';
    if (o.case === 'mtls') {
      const meshRoot = await createRootCa();
      const certA = await createWorkloadCert(meshRoot, { identity: { namespace: 'default', serviceAccount: 'cost-a' } });
      const certB = await createWorkloadCert(meshRoot, { identity: { namespace: 'default', serviceAccount: 'cost-b' } });
      const secrets = (c: typeof certA) => [tlsCertificateSecret('default', c.chainPem, c.keyPem), validationContextSecret('ROOTCA', c.rootPem)];
      const cB = cluster({ name: 'outbound|80||cost-b.bench' });
      cB.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, upstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['istio-peer-exchange', 'istio'], spiffeIds: [certB.spiffeId!] }), 'outbound_.80_._.cost-b.bench')) };
      const eB = clusterLoadAssignment(cB.name!, [{ address: '127.0.0.1', port: inbound }]);
      const inboundMtls = listener({
        name: 'inbound-mtls', address: '127.0.0.1', port: inbound, listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: pack(ExtensionTypeUrl.TlsInspector, {}) }],
        filterChains: [{
          filter_chain_match: { transport_protocol: 'tls' },
          transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['h2', 'http/1.1'] }), true)) },
          filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_80', rdsName: 'inbound-mtls' })],
        }],
      });
      cache.setSnapshot(idA, Snapshot.create('1', { [TypeUrl.Listener]: [lst('pair-mtls', front, 'pair-mtls')], [TypeUrl.RouteConfiguration]: [rc('pair-mtls', cB.name!)], [TypeUrl.Cluster]: [cB], [TypeUrl.ClusterLoadAssignment]: [eB], [TypeUrl.Secret]: secrets(certA) }));
      cache.setSnapshot(idB, Snapshot.create('1', { [TypeUrl.Listener]: [inboundMtls], [TypeUrl.RouteConfiguration]: [rc('inbound-mtls', cUp.name!)], [TypeUrl.Cluster]: [cUp], [TypeUrl.ClusterLoadAssignment]: [eUp], [TypeUrl.Secret]: secrets(certB) }));
    } else {
      cache.setSnapshot(idA, Snapshot.create('1', { [TypeUrl.Listener]: [lst('one', front, 'one')], [TypeUrl.RouteConfiguration]: [rc('one', cUp.name!)], [TypeUrl.Cluster]: [cUp], [TypeUrl.ClusterLoadAssignment]: [eUp] }));
    }
    const profDir = join(dir, 'prof');
    const gcLogs: { out: string }[] = [];
    const inspectPort = o.alloc ? await freePort() : undefined;
    const proxy = async (pod: string, prof: boolean, inspect?: number) => {
      const [a, s, p] = [await freePort(), await freePort(), await freePort()];
      const flags = [...o.proxyNodeFlags.split(/\s+/).filter(Boolean), '--trace-gc', ...(prof ? ['--cpu-prof', '--cpu-prof-interval', '200', `--cpu-prof-dir=${profDir}`] : []),
        ...(inspect !== undefined ? [`--inspect=127.0.0.1:${inspect}`] : [])];
      const c = spawn(...launch(process.execPath, [...flags, proxyMain, 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${adsPort}`, '--admin-port', String(a), '--status-port', String(s),
        '--prometheus-port', String(p), '--merged-metrics-port', 'off', '--log-level', 'warn', '--access-log', 'off'], pod === (o.case === 'mtls' && o.profileServer ? 'cost-b' : 'cost-a')), {
        stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...LAUNCH.env, POD_NAME: pod, POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' },
      });
      const log = { out: '' };
      c.stdout!.setEncoding('utf8').on('data', (d: string) => { log.out += d; });
      gcLogs.push(log);
      procs.push(c);
      return c;
    };
    const profiled = o.profile ? (o.case === 'mtls' && o.profileServer ? 1 : 0) : -1;
    const proxies = [await proxy('cost-a', profiled === 0, inspectPort)];
    if (o.case === 'mtls') proxies.push(await proxy('cost-b', profiled === 1));
    await waitPort(up);
    await waitPort(front);
    if (o.case === 'mtls') await waitPort(inbound);
    await sleep(500);
    const gcCount = () => gcLogs.map((l) => [(l.out.match(/Scavenge/g) ?? []).length, (l.out.match(/Mark-Compact/g) ?? []).length]);
    await measure(front, proxies, gcCount, inspectPort);
    if (profiled >= 0) {
      proxies[profiled].kill('SIGINT');
      await new Promise((r) => proxies[profiled].once('exit', r));
      const file = existsSync(profDir) ? readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')) : undefined;
      if (file) {
        for (const e of topSelfTime(join(profDir, file), 30)) console.log(`${e.percent.toFixed(1).padStart(5)}%  ${e.fn} ${e.where}`);
        if (o.profileOut) copyFileSync(join(profDir, file), o.profileOut);
      }
    }
    await ads.close();
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    try { execFileSync('sleep', ['0.2']); } catch { /* */ }
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
}

void main();
