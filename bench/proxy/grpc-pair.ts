/**
 * gRPC unary calls through the tsmesh client+server pair only (h2c both hops, @grpc/grpc-js
 * upstream), for looking at the HTTP/2 path without the whole benchmark: calls/s, latency
 * percentiles per call, the proxies' CPU (cores used) and RSS, and the established connections
 * to each hop during the load (one HTTP/2 session per hop is expected).
 *   node bench/proxy/run.mjs grpc [pair|one|direct] [seconds] [calls in flight]
 *   one: a single proxy straight to the upstream; direct: no proxy.
 *   PROXY_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds Node flags to the proxies.
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { AdsServer, SnapshotCache, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost } from '@tsmesh/xds';
import { LAUNCH } from './launch';
import { freePort, waitPort } from './ports';
const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const procs: ChildProcess[] = [];
const start = (cmd: string[], env = {}) => { const c = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } }); procs.push(c); return c; };
const cpu = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
async function grpcMaxRate(port: number, seconds: number, concurrency: number) {
  const sessions = Array.from({ length: 4 }, () => http2.connect(`http://127.0.0.1:${port}`));
  for (const s of sessions) s.on('error', () => undefined);
  const msg = Buffer.alloc(105, 0x61); msg[0] = 0; msg.writeUInt32BE(100, 1);
  const headers = { ':method': 'POST', ':path': '/bench.Echo/Unary', ':authority': 'grpc.bench', 'content-type': 'application/grpc', te: 'trailers' };
  let ok = 0, errors = 0; const lats: number[] = []; const t0 = performance.now(); const end = t0 + seconds * 1000;
  const call = (s: http2.ClientHttp2Session) => new Promise<void>((resolve) => {
    let status: string | undefined; const ts = performance.now(); const st = s.request(headers);
    st.on('response', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
    st.on('trailers', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
    st.on('data', () => undefined);
    st.on('end', () => { lats.push(performance.now() - ts); if (status === '0') ok++; else errors++; resolve(); });
    st.on('error', () => { errors++; resolve(); });
    st.end(msg);
  });
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => { const s = sessions[i % sessions.length]; while (performance.now() < end && !s.destroyed) await call(s); }));
  const secs = (performance.now() - t0) / 1000; for (const s of sessions) s.close();
  lats.sort((a, b) => a - b); const q = (p: number) => lats[Math.floor(lats.length * p)]?.toFixed(2); return { rps: ok / secs, errors, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(0.9999) };
}
const mode = process.argv[2] ?? 'pair';
const secs = Number(process.argv[3] ?? 3);
const concurrency = Number(process.argv[4] ?? 64);
const grpcUp = await freePort(), tsA = await freePort(), tsB = await freePort();
start([process.execPath, resolve(root, 'bench/proxy/grpc-upstream.mjs'), String(grpcUp)]);
const cache = new SnapshotCache(); const ads = new AdsServer({ cache }); const adsPort = await ads.listen(`127.0.0.1:${await freePort()}`);
const lst = (name: string, p: number) => listener({ name, address: '127.0.0.1', port: p, filterChains: [{ filters: [httpConnectionManager({ statPrefix: name, rdsName: name })] }] });
const rc = (name: string, c: string) => routeConfiguration(name, [virtualHost(name, ['*'], [route({ cluster: c, timeoutMs: 0 })])]);
const eds = (name: string, p: number) => [cluster({ name, http2: true }), clusterLoadAssignment(name, [{ address: '127.0.0.1', port: p }])] as const;
const [cB, eB] = eds('outbound|9000||proxy-b-grpc.bench', mode === 'one' ? grpcUp : tsB); const [cU, eU] = eds('inbound|9000||grpc.bench', grpcUp);
cache.setSnapshot('sidecar~127.0.0.1~bench-a.default~default.svc.cluster.local', Snapshot.create('1', { [TypeUrl.Listener]: [lst('pair-grpc', tsA)], [TypeUrl.RouteConfiguration]: [rc('pair-grpc', cB.name!)], [TypeUrl.Cluster]: [cB], [TypeUrl.ClusterLoadAssignment]: [eB] }));
cache.setSnapshot('sidecar~127.0.0.1~bench-b.default~default.svc.cluster.local', Snapshot.create('1', { [TypeUrl.Listener]: [lst('inbound-grpc', tsB)], [TypeUrl.RouteConfiguration]: [rc('inbound-grpc', cU.name!)], [TypeUrl.Cluster]: [cU], [TypeUrl.ClusterLoadAssignment]: [eU] }));
const proxyMain = resolve(root, 'dist/apps/proxy/main.js');
const flags = (process.env.PROXY_FLAGS ?? '').split(/\s+/).filter(Boolean);
const tsProxy = async (pod: string) => start([process.execPath, ...LAUNCH.nodeFlags, ...flags, proxyMain, 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${adsPort}`, '--admin-port', String(await freePort()), '--status-port', String(await freePort()), '--prometheus-port', String(await freePort()), '--merged-metrics-port', 'off', '--log-level', 'warn', '--access-log', 'off'], { ...LAUNCH.env, POD_NAME: pod, POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' });
const pa = await tsProxy('bench-a'), pb = await tsProxy('bench-b');
for (const p of [grpcUp, tsA, tsB]) await waitPort(p);
await sleep(500);
const target = mode === 'direct' ? grpcUp : tsA;
await grpcMaxRate(target, 1, concurrency);
const c0 = cpu(pa.pid!) + cpu(pb.pid!); const t0 = performance.now();
setTimeout(() => { for (const [n, pt] of [['toB', tsB], ['toUp', grpcUp], ['toA', tsA]] as const) console.log(`established ${n}:`, execSync(`ss -Htn state established '( dport = :${pt} )' | wc -l`).toString().trim()); }, secs * 500);
const r = await grpcMaxRate(target, secs, concurrency);
const used = cpu(pa.pid!) + cpu(pb.pid!) - c0; const el = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ mode, concurrency, ...r, proxyCores: used / el, rssA: rss(pa.pid!), rssB: rss(pb.pid!), load: (await import('node:os')).loadavg() }));
for (const p of procs) p.kill('SIGINT');
await sleep(500); for (const p of procs) p.kill('SIGKILL');
process.exit(0);
