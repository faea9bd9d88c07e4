/**
 * Proxy benchmark: 1 KiB HTTP/1.1 keep-alive responses from an nginx upstream, measured
 *   direct · through one tsmesh proxy (access log off, Istio's default; and on) · through one
 *   proxy holding 1,000 services of config · through a client and a server tsmesh proxy
 *   (plaintext, and mTLS as Istio wires it) · gRPC unary calls through the plaintext pair over
 *   HTTP/2 — and the same through nginx (Debian) as the baseline: one proxy (log off and on), a
 *   plaintext pair, a TLS pair with client certificates (`proxy_ssl_*`), a gRPC pair (`grpc_pass`).
 * At a fixed 1,000 rps (open loop, own client with sub-millisecond timing; cases interleaved over
 * several rounds): P50/P90/P99 latency (median over the rounds) and the latency each case adds over
 * direct (each round's percentile minus direct's in the same round, median over the rounds), CPU per 1,000 rps and RSS of each proxy (idle with its config, and at the rate).
 * At maximum rate (autocannon; gRPC: HTTP/2 client of our own): requests per second, and per
 * proxy core (rps / proxy CPU used). Then a CPU profile (--cpu-prof) of one tsmesh proxy at
 * maximum rate, its top self-time entries written into the Markdown.
 * With --pin, proxies run on CPU 1 and the load generator and the upstream on CPU 0.
 * Writes bench/results/proxy.json and bench/results/proxy.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import http2 from 'node:http2';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { Pool } from 'undici';
import autocannon from 'autocannon';
import {
  AdsServer, SnapshotCache, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost,
  downstreamTlsContext, ExtensionTypeUrl, pack, sdsCommonTlsContext, tlsCertificateSecret, upstreamTlsContext, validationContextSecret,
} from '@tsmesh/xds';
import { createRootCa, createWorkloadCert } from '@tsmesh/certs';
import { meshConfig } from './config';
import { busyByKind, CODE_KINDS, topSelfTime, type CodeKind, type ProfileEntry } from './cpuprofile';
import { LAUNCH, launchEnv } from './launch';
import { freePort, waitPort } from './ports';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const o = new Command()
  .option('--duration <s>', 'seconds per fixed-rate round', (v) => Number(v), 3)
  .option('--rounds <n>', 'fixed-rate rounds (cases interleaved)', (v) => Number(v), 7)
  .option('--max-duration <s>', 'seconds per max-rate round', (v) => Number(v), 5)
  .option('--max-rounds <n>', 'max-rate rounds (cases interleaved)', (v) => Number(v), 3)
  .option('--warmup <s>', 'warm-up seconds before each measurement', (v) => Number(v), 2)
  .option('--rate <rps>', 'fixed rate', (v) => Number(v), 1000)
  .option('--connections <n>', 'autocannon connections at max rate', (v) => Number(v), 64)
  .option('--pin', 'pin proxies to CPU 1 and the client/upstream to CPU 0')
  .option('--no-rt', 'do not raise the fixed-rate phase to SCHED_RR')
  .option('--services <n>', 'services in the config-size case', (v) => Number(v), 1000)
  .option('--grpc-concurrency <n>', 'gRPC calls in flight at max rate', (v) => Number(v), 64)
  .option('--profile-seconds <s>', 'seconds of the CPU profile (0: none)', (v) => Number(v), 5)
  .option('--proxy-node-flags <flags>', "V8/Node flags for the tsmesh proxies (the image's: apps/proxy/launch.json)", LAUNCH.nodeFlags.join(' '))
  .option('--proxy-env <vars>', "environment of the tsmesh proxies, space-separated NAME=value (the image's)", launchEnv())
  .option('--out <prefix>', 'results path prefix', 'bench/results/proxy')
  .parse()
  .opts<{ pin?: boolean; rt: boolean; duration: number; rounds: number; maxDuration: number; maxRounds: number; warmup: number; rate: number; connections: number;
    services: number; grpcConcurrency: number; profileSeconds: number; proxyNodeFlags: string; proxyEnv: string; out: string }>();

const TWO_CORES = cpus().length >= 2 && !!o.pin;
const pin = (cpu: number, cmd: string[]) => (TWO_CORES ? ['taskset', '-c', String(cpu), ...cmd] : cmd);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
if (TWO_CORES) execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

function ensureNginx(): string {
  const have = () => { try { return execFileSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).trim().split('\n')[0]; } catch { return ''; } };
  let bin = have();
  if (!bin) {
    console.log('installing nginx (Debian) ...');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    // Debian's nginx: http_v2, ssl and grpc built in
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'nginx'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    bin = have();
  }
  if (!bin) throw new Error('nginx not available');
  return bin;
}

const procs: ChildProcess[] = [];
function start(cmd: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const c = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  procs.push(c);
  return c;
}

function nginx(bin: string, dir: string, name: string, port: number, body: string, listenOpts = ''): ChildProcess {
  const prefix = join(dir, name);
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, `daemon off;
master_process off;
worker_processes 1;
error_log ${prefix}/logs/error.log warn;
pid ${prefix}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path ${prefix}/tmp_body; proxy_temp_path ${prefix}/tmp_proxy; fastcgi_temp_path ${prefix}/tmp_fcgi; uwsgi_temp_path ${prefix}/tmp_uwsgi; scgi_temp_path ${prefix}/tmp_scgi;
  ${body.replace('LISTEN', `listen 127.0.0.1:${port}${listenOpts} reuseport;`)}
}
`);
  return start(pin(name === 'upstream' ? 0 : 1, [bin, '-p', prefix, '-c', conf]));
}

/** A process's CPU time so far, in seconds: user space and kernel (system calls, the network stack on its behalf). */
function cpuTimes(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(parts[11]) / 100, sys: Number(parts[12]) / 100 }; // utime, stime in clock ticks (USER_HZ = 100)
}

function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** Resident set size in MB: all of it, the file-backed part (the node binary's and libraries' pages, shared with every process mapping them) and the anonymous part (heaps). */
function rss(pid: number): { total: number; file: number; anon: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => { const m = new RegExp(`${k}:\\s+(\\d+) kB`).exec(s); return m ? Number(m[1]) / 1024 : NaN; };
  return { total: kb('VmRSS'), file: kb('RssFile'), anon: kb('RssAnon') + kb('RssShmem') };
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Open-loop fixed-rate load: `rate` rps for `seconds`; latency from send to last byte. */
async function fixedRate(port: number, rate: number, seconds: number): Promise<{ p50: number; p90: number; p99: number; errors: number; sent: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
  const total = Math.round(rate * seconds);
  const lat = new Float64Array(total);
  let n = 0;
  let errors = 0;
  let sent = 0;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  const one = async () => {
    const s = performance.now();
    try {
      const r = await pool.request({ path: '/', method: 'GET', headers: { host: 'upstream.bench' } });
      await r.body.arrayBuffer();
      if (r.statusCode !== 200) errors++;
      else lat[n++] = performance.now() - s;
    } catch {
      errors++;
    }
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due) {
      inflight.push(one());
      sent++;
    }
    if (inflight.length > 5000) await Promise.all(inflight.splice(0));
    await sleep(1); // a timer, not a spin: the client shares its core with the upstream
  }
  await Promise.all(inflight);
  await pool.close();
  const sorted = lat.subarray(0, n).sort();
  return { p50: pct(sorted, 50), p90: pct(sorted, 90), p99: pct(sorted, 99), errors, sent };
}

/**
 * gRPC unary calls at maximum rate: `concurrency` calls in flight over 4 HTTP/2 connections,
 * each a real gRPC request (length-prefixed 100-byte message, `te: trailers`), counted when the
 * response ends with `grpc-status: 0`.
 */
async function grpcMaxRate(port: number, seconds: number, concurrency: number): Promise<{ rps: number; errors: number }> {
  const sessions = Array.from({ length: 4 }, () => http2.connect(`http://127.0.0.1:${port}`));
  for (const s of sessions) s.on('error', () => undefined);
  const msg = Buffer.alloc(105, 0x61);
  msg[0] = 0;
  msg.writeUInt32BE(100, 1);
  const headers = { ':method': 'POST', ':path': '/bench.Echo/Unary', ':authority': 'grpc.bench', 'content-type': 'application/grpc', te: 'trailers' };
  let ok = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const call = (s: http2.ClientHttp2Session) => new Promise<void>((resolve) => {
    let status: string | undefined;
    const st = s.request(headers);
    st.on('response', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
    st.on('trailers', (h) => { if (h['grpc-status'] !== undefined) status = String(h['grpc-status']); });
    st.on('data', () => undefined);
    st.on('end', () => { if (status === '0') ok++; else errors++; resolve(); });
    st.on('error', () => { errors++; resolve(); });
    st.end(msg);
  });
  await Promise.all(Array.from({ length: concurrency }, async (_, i) => {
    const s = sessions[i % sessions.length];
    while (performance.now() < end && !s.destroyed) await call(s);
  }));
  const secs = (performance.now() - t0) / 1000;
  for (const s of sessions) s.close();
  return { rps: ok / secs, errors };
}

async function maxRate(port: number, seconds: number, connections: number): Promise<{ rps: number; errors: number }> {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, pipelining: 1, duration: seconds, headers: { host: 'upstream.bench' } });
  return { rps: r.requests.average, errors: r.errors + r.non2xx };
}

interface Row { case: string; metric: string; unit: string; value: number; baseline: number | null; target: number | null }

/** A profile's top self-time entries, its busy samples by kind of code, and the process's CPU per request over the profiled load. */
type Profile = { top: ProfileEntry[]; kinds: Record<CodeKind, number>; cpu: CpuPerRequest } | null;
interface Profiles { tsmesh: Profile; floor: Profile; mtlsClient: Profile; mtlsServer: Profile }

interface Case { key: string; label: string; port: number; proxies: ChildProcess[]; grpc?: boolean }
type Percentiles = { p50: number; p90: number; p99: number };
type RssParts = { total: number; file: number; anon: number };
/** CPU per request at maximum rate, per proxy, in µs: user space and kernel. */
type CpuPerRequest = { user: number; sys: number };
interface Result { p50: number; p90: number; p99: number; added: Percentiles; cpuPer1k: number[]; rss: RssParts[]; idleRss: RssParts[]; rps: number; rpsPerCore: number; maxCpu: CpuPerRequest; errors: number }

async function main(): Promise<void> {
  const bin = ensureNginx();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-bench-proxy-'));
  const proxyMain = resolve(root, 'dist/apps/proxy/main.js');
  if (!existsSync(proxyMain)) execFileSync(process.execPath, ['tools/build.mjs', 'apps/proxy', 'src/main.ts'], { cwd: root, stdio: 'inherit' });
  const body = 'x'.repeat(1024);
  writeFileSync(join(dir, 'index.html'), body);
  const loadStart = loadavg();
  try {
    const port = freePort;
    const [up, grpcUp, ads0] = [await port(), await port(), await port()];
    const [ng1, ng1log, ng2, ngTlsA, ngTlsB, ngGrpcA, ngGrpcB] = [await port(), await port(), await port(), await port(), await port(), await port(), await port()];
    const [tsOne, tsOneLog, tsMesh, tsPairA, tsPairB, tsMtlsA, tsMtlsB, tsGrpcA, tsGrpcB] = [await port(), await port(), await port(), await port(), await port(), await port(), await port(), await port(), await port()];
    const fwdPort = await port();

    // upstreams: nginx serving 1 KiB, and a gRPC server (@grpc/grpc-js) in its own process
    nginx(bin, dir, 'upstream', up, `server { LISTEN location / { root ${dir}; try_files /index.html =404; default_type text/plain; } }`);
    start(pin(0, [process.execPath, resolve(root, 'bench/proxy/grpc-upstream.mjs'), String(grpcUp)]));

    // the mesh's certificates: workload certificates from one root (EC P-256), the nginx pair's
    // with a DNS name beside the SPIFFE ID so nginx can verify it by name
    const meshRoot = await createRootCa();
    const certA = await createWorkloadCert(meshRoot, { identity: { namespace: 'default', serviceAccount: 'bench-a' } });
    const certB = await createWorkloadCert(meshRoot, { identity: { namespace: 'default', serviceAccount: 'bench-b' } });
    const ngCertA = await createWorkloadCert(meshRoot, { identity: { namespace: 'default', serviceAccount: 'nginx-a' }, dnsNames: ['nginx-a.bench'] });
    const ngCertB = await createWorkloadCert(meshRoot, { identity: { namespace: 'default', serviceAccount: 'nginx-b' }, dnsNames: ['nginx-b.bench'] });
    const pem = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text); return f; };
    const rootPem = pem('root.pem', certA.rootPem);

    const proxyBlock = (to: string, extra = '') => `upstream u { server ${to}; keepalive 128; keepalive_requests 1000000; }
  server { LISTEN ${extra} location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_buffering on; } }`;
    const ngOne = nginx(bin, dir, 'nginx-one', ng1, proxyBlock(`127.0.0.1:${up}`));
    const ngOneLog = nginx(bin, dir, 'nginx-one-log', ng1log, proxyBlock(`127.0.0.1:${up}`, `access_log ${dir}/nginx-one-log/logs/access.log combined buffer=64k;`));
    const ngPairA = nginx(bin, dir, 'nginx-pair-a', ng2, proxyBlock(`127.0.0.1:${ng1}`));
    // nginx TLS pair: A → B over TLS with A's client certificate, each verifying the other against the mesh root
    const ngTlsBProc = nginx(bin, dir, 'nginx-tls-b', ngTlsB, `upstream u { server 127.0.0.1:${up}; keepalive 128; keepalive_requests 1000000; }
  server { LISTEN ssl_certificate ${pem('ngb.crt', ngCertB.chainPem)}; ssl_certificate_key ${pem('ngb.key', ngCertB.keyPem)};
    ssl_client_certificate ${rootPem}; ssl_verify_client on; ssl_protocols TLSv1.3; ssl_session_cache shared:tlsb:1m;
    location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_buffering on; } }`, ' ssl');
    const ngTlsAProc = nginx(bin, dir, 'nginx-tls-a', ngTlsA, `upstream u { server 127.0.0.1:${ngTlsB}; keepalive 128; keepalive_requests 1000000; }
  server { LISTEN location / { proxy_pass https://u; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_buffering on;
    proxy_ssl_certificate ${pem('nga.crt', ngCertA.chainPem)}; proxy_ssl_certificate_key ${pem('nga.key', ngCertA.keyPem)};
    proxy_ssl_trusted_certificate ${rootPem}; proxy_ssl_verify on; proxy_ssl_name nginx-b.bench; proxy_ssl_server_name on; proxy_ssl_protocols TLSv1.3; proxy_ssl_session_reuse on; } }`);
    // nginx gRPC pair: h2c in, grpc_pass to the next hop with a keep-alive pool
    const grpcBlock = (to: number) => `upstream g { server 127.0.0.1:${to}; keepalive 128; keepalive_requests 1000000; }
  server { LISTEN location / { grpc_pass grpc://g; } }`;
    const ngGrpcBProc = nginx(bin, dir, 'nginx-grpc-b', ngGrpcB, grpcBlock(grpcUp), ' http2');
    const ngGrpcAProc = nginx(bin, dir, 'nginx-grpc-a', ngGrpcA, grpcBlock(ngGrpcB), ' http2');

    // tsmesh: proxy A (client side) holds the one-proxy listener and the client side of each pair;
    // proxy B the server side; L the one-proxy case with the access log on; M 1,000 services.
    const cache = new SnapshotCache();
    const ads = new AdsServer({ cache });
    const adsPort = await ads.listen(`127.0.0.1:${ads0}`);
    const lst = (name: string, p: number, rds: string) => listener({ name, address: '127.0.0.1', port: p, filterChains: [{ filters: [httpConnectionManager({ statPrefix: name, rdsName: rds })] }] });
    const rc = (name: string, c: string) => routeConfiguration(name, [virtualHost(name, ['*'], [route({ cluster: c, timeoutMs: 0 })])]);
    const eds = (name: string, p: number, http2 = false) => [cluster({ name, http2 }), clusterLoadAssignment(name, [{ address: '127.0.0.1', port: p }])] as const;
    const [cUp, eUp] = eds('outbound|80||upstream.bench', up);
    const [cB, eB] = eds('outbound|80||proxy-b.bench', tsPairB);
    const [cGrpcB, eGrpcB] = eds('outbound|9000||proxy-b-grpc.bench', tsGrpcB, true);
    const [cGrpcUp, eGrpcUp] = eds('inbound|9000||grpc.bench', grpcUp, true);
    const idA = 'sidecar~127.0.0.1~bench-a.default~default.svc.cluster.local';
    const idB = 'sidecar~127.0.0.1~bench-b.default~default.svc.cluster.local';
    const idL = 'sidecar~127.0.0.1~bench-log.default~default.svc.cluster.local';
    const idO = 'sidecar~127.0.0.1~bench-one.default~default.svc.cluster.local';
    const idM = 'sidecar~127.0.0.1~bench-mesh.default~default.svc.cluster.local';
    // The mTLS pair, as Istio wires it: ISTIO_MUTUAL cluster on A (workload cert `default`, trust
    // bundle `ROOTCA`, B's SPIFFE ID, Istio ALPN), STRICT inbound chain on B; telemetry on (the default).
    const secrets = (c: typeof certA) => [tlsCertificateSecret('default', c.chainPem, c.keyPem), validationContextSecret('ROOTCA', c.rootPem)];
    const [cBm, eBm] = eds('outbound|80||proxy-b-mtls.bench', tsMtlsB);
    cBm.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, upstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['istio-peer-exchange', 'istio'], spiffeIds: [certB.spiffeId!] }), 'outbound_.80_._.proxy-b-mtls.bench')) };
    const inboundMtls = listener({
      name: 'inbound-mtls', address: '127.0.0.1', port: tsMtlsB, listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: pack(ExtensionTypeUrl.TlsInspector, {}) }],
      filterChains: [{
        filter_chain_match: { transport_protocol: 'tls' },
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['h2', 'http/1.1'] }), true)) },
        filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_80', rdsName: 'inbound-mtls' })],
      }],
    });
    cache.setSnapshot(idA, Snapshot.create('1', {
      [TypeUrl.Listener]: [lst('pair', tsPairA, 'pair'), lst('pair-mtls', tsMtlsA, 'pair-mtls'), lst('pair-grpc', tsGrpcA, 'pair-grpc')],
      [TypeUrl.RouteConfiguration]: [rc('pair', cB.name!), rc('pair-mtls', cBm.name!), rc('pair-grpc', cGrpcB.name!)],
      [TypeUrl.Cluster]: [cUp, cB, cBm, cGrpcB],
      [TypeUrl.ClusterLoadAssignment]: [eUp, eB, eBm, eGrpcB],
      [TypeUrl.Secret]: secrets(certA),
    }));
    cache.setSnapshot(idB, Snapshot.create('1', {
      [TypeUrl.Listener]: [lst('inbound', tsPairB, 'inbound'), inboundMtls, lst('inbound-grpc', tsGrpcB, 'inbound-grpc')],
      [TypeUrl.RouteConfiguration]: [rc('inbound', cUp.name!), rc('inbound-mtls', cUp.name!), rc('inbound-grpc', cGrpcUp.name!)],
      [TypeUrl.Cluster]: [cUp, cGrpcUp],
      [TypeUrl.ClusterLoadAssignment]: [eUp, eGrpcUp],
      [TypeUrl.Secret]: secrets(certB),
    }));
    cache.setSnapshot(idL, Snapshot.create('1', { [TypeUrl.Listener]: [lst('one', tsOneLog, 'one')], [TypeUrl.RouteConfiguration]: [rc('one', cUp.name!)], [TypeUrl.Cluster]: [cUp], [TypeUrl.ClusterLoadAssignment]: [eUp] }));
    // the one-proxy case on a proxy of its own (its RSS is the sidecar config's alone, not the pair cases' too)
    cache.setSnapshot(idO, Snapshot.create('1', { [TypeUrl.Listener]: [lst('one', tsOne, 'one')], [TypeUrl.RouteConfiguration]: [rc('one', cUp.name!)], [TypeUrl.Cluster]: [cUp], [TypeUrl.ClusterLoadAssignment]: [eUp] }));
    cache.setSnapshot(idM, Snapshot.create('1', meshConfig(o.services, tsMesh, up)));

    const proxyFlags = o.proxyNodeFlags.split(/\s+/).filter(Boolean);
    const proxyEnv = Object.fromEntries(o.proxyEnv.split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const tsProxy = async (pod: string, accessLog: string, nodeFlags: string[] = []) => {
      const [a, s, p] = [await freePort(), await freePort(), await freePort()];
      return start(pin(1, [process.execPath, ...proxyFlags, ...nodeFlags, proxyMain, 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${adsPort}`, '--admin-port', String(a), '--status-port', String(s),
        '--prometheus-port', String(p), '--merged-metrics-port', 'off', '--log-level', 'warn', '--access-log', accessLog]), { ...proxyEnv, POD_NAME: pod, POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' });
    };
    const tsO = await tsProxy('bench-one', 'off');
    const tsA = await tsProxy('bench-a', 'off');
    const tsB = await tsProxy('bench-b', 'off');
    const tsL = await tsProxy('bench-log', join(dir, 'tsmesh-access.log'));
    const tsM = await tsProxy('bench-mesh', 'off');
    // the floor of a proxy written in Node.js: a minimal forwarder on raw sockets, same Node, flags and environment
    const fwd = start(pin(1, [process.execPath, ...proxyFlags, resolve(root, 'bench/proxy/forwarder.mjs')]), { ...proxyEnv, FORWARDER_LISTEN: String(fwdPort), FORWARDER_UPSTREAM: String(up) });
    for (const p of [up, grpcUp, ng1, ng1log, ng2, ngTlsA, ngTlsB, ngGrpcA, ngGrpcB, tsOne, tsOneLog, tsMesh, tsPairA, tsPairB, tsMtlsA, tsMtlsB, tsGrpcA, tsGrpcB, fwdPort]) await waitPort(p, 60_000);
    // the steady state after config: a proxy whose config grew its heap compacts it 1 s after the last update (apps/proxy/README.md, Memory)
    await sleep(3000);
    const idleRss = new Map<ChildProcess, RssParts>([tsO, tsA, tsB, tsL, tsM, fwd, ngOne, ngOneLog, ngPairA, ngTlsAProc, ngTlsBProc, ngGrpcAProc, ngGrpcBProc].map((p) => [p, rss(p.pid!)]));

    const cases: Case[] = [
      { key: 'direct', label: 'direct', port: up, proxies: [] },
      { key: 'tsmesh-1', label: 'tsmesh, one proxy', port: tsOne, proxies: [tsO] },
      { key: 'tsmesh-1-log', label: 'tsmesh, one proxy, access log on', port: tsOneLog, proxies: [tsL] },
      { key: 'tsmesh-1-mesh', label: `tsmesh, one proxy holding ${o.services} services`, port: tsMesh, proxies: [tsM] },
      { key: 'tsmesh-2', label: 'tsmesh, client+server proxies (plaintext)', port: tsPairA, proxies: [tsA, tsB] },
      { key: 'tsmesh-2-mtls', label: 'tsmesh, client+server proxies (mTLS, telemetry)', port: tsMtlsA, proxies: [tsA, tsB] },
      { key: 'node-forwarder', label: 'minimal Node.js forwarder', port: fwdPort, proxies: [fwd] },
      { key: 'nginx-1', label: 'nginx, one proxy', port: ng1, proxies: [ngOne] },
      { key: 'nginx-1-log', label: 'nginx, one proxy, access log on', port: ng1log, proxies: [ngOneLog] },
      { key: 'nginx-2', label: 'nginx, two proxies', port: ng2, proxies: [ngPairA, ngOne] },
      { key: 'nginx-2-tls', label: 'nginx, two proxies (TLS with client certificates)', port: ngTlsA, proxies: [ngTlsAProc, ngTlsBProc] },
    ];
    const grpcCases: Case[] = [
      { key: 'grpc-direct', label: 'gRPC direct', port: grpcUp, proxies: [], grpc: true },
      { key: 'tsmesh-2-grpc', label: 'tsmesh, client+server proxies, gRPC unary (h2c)', port: tsGrpcA, proxies: [tsA, tsB], grpc: true },
      { key: 'nginx-2-grpc', label: 'nginx, two proxies, grpc_pass (h2c)', port: ngGrpcA, proxies: [ngGrpcAProc, ngGrpcBProc], grpc: true },
    ];
    // The machine is shared: cases are interleaved round by round. Each latency percentile is the
    // median over the rounds, and the latency a case adds is paired by round (its percentile minus
    // direct's in the same round, median over the rounds), so one disturbed round moves neither,
    // and a spike in direct's tail cannot make a baseline negative. CPU is averaged over all rounds.
    type Acc = { lat: Percentiles[]; cpu: number[]; secs: number; rss: RssParts[]; rps: number; rpsPerCore: number; maxUser: number; maxSys: number; maxRequests: number; errors: number };
    const acc = new Map<string, Acc>([...cases, ...grpcCases].map((c) => [c.key, {
      lat: [], cpu: c.proxies.map(() => 0), secs: 0, rss: c.proxies.map(() => ({ total: 0, file: 0, anon: 0 })), rps: 0, rpsPerCore: 0, maxUser: 0, maxSys: 0, maxRequests: 0, errors: 0,
    }]));
    const peak = (a: Acc, i: number, p: ChildProcess) => { const r = rss(p.pid!); if (r.total > a.rss[i].total) a.rss[i] = r; };
    // Fixed-rate phase under SCHED_RR (it needs well under one core in total), so that latency
    // measures the proxies rather than how long other work on the machine keeps them waiting.
    const all = [process.pid, ...procs.map((p) => p.pid!)];
    const sched = (rt: boolean) => {
      if (!o.rt) return;
      for (const pid of all) {
        try {
          execFileSync('chrt', rt ? ['-a', '-r', '-p', '10', String(pid)] : ['-a', '-o', '-p', '0', String(pid)], { stdio: 'ignore' });
        } catch {
          // not permitted: measure with normal scheduling
        }
      }
    };
    sched(true);
    for (const c of cases) await fixedRate(c.port, o.rate, o.warmup);
    for (let round = 0; round < o.rounds; round++) {
      for (const c of cases) {
        const a = acc.get(c.key)!;
        const cpu0 = c.proxies.map((p) => cpuSeconds(p.pid!));
        const t0 = performance.now();
        const fr = await fixedRate(c.port, o.rate, o.duration);
        const secs = (performance.now() - t0) / 1000;
        c.proxies.forEach((p, i) => { a.cpu[i] += cpuSeconds(p.pid!) - cpu0[i]; peak(a, i, p); });
        a.secs += secs;
        a.lat.push({ p50: fr.p50, p90: fr.p90, p99: fr.p99 });
        a.errors += fr.errors;
        console.log(`round ${round + 1} ${c.label}: fixed ${o.rate} rps p50 ${fr.p50.toFixed(3)} p90 ${fr.p90.toFixed(3)} p99 ${fr.p99.toFixed(3)} ms, errors ${fr.errors}`);
      }
    }
    sched(false); // the max-rate phase saturates the cores: back to normal scheduling
    const load = (c: Case, secs: number) => (c.grpc ? grpcMaxRate(c.port, secs, o.grpcConcurrency) : maxRate(c.port, secs, o.connections));
    for (const c of [...cases, ...grpcCases]) await load(c, 2);
    for (let round = 0; round < o.maxRounds; round++) {
      for (const c of [...cases, ...grpcCases]) {
        const a = acc.get(c.key)!;
        const mc0 = c.proxies.map((p) => cpuTimes(p.pid!));
        const m0 = performance.now();
        const mr = await load(c, o.maxDuration);
        const ms = (performance.now() - m0) / 1000;
        const used = c.proxies.map((p, i) => { const t = cpuTimes(p.pid!); return { user: t.user - mc0[i].user, sys: t.sys - mc0[i].sys }; });
        const cores = used.reduce((x, u) => x + (u.user + u.sys) / ms, 0);
        const perCore = c.proxies.length ? (mr.rps * c.proxies.length) / Math.max(cores, 0.01) : mr.rps;
        for (const u of used) { a.maxUser += u.user; a.maxSys += u.sys; }
        a.maxRequests += mr.rps * ms * c.proxies.length;
        a.errors += mr.errors;
        if (c.grpc) c.proxies.forEach((p, i) => peak(a, i, p));
        if (mr.rps > a.rps) { a.rps = mr.rps; a.rpsPerCore = perCore; }
        console.log(`round ${round + 1} ${c.label}: max ${mr.rps.toFixed(0)} rps, proxy cores ${cores.toFixed(2)}, per proxy core ${perCore.toFixed(0)}, errors ${mr.errors}`);
      }
    }
    const res = new Map<string, Result>();
    const direct = acc.get('direct')!.lat;
    for (const c of [...cases, ...grpcCases]) {
      const a = acc.get(c.key)!;
      const at = (k: keyof Percentiles) => median(a.lat.map((l) => l[k]));
      const added = (k: keyof Percentiles) => median(a.lat.map((l, i) => l[k] - direct[i][k]));
      const idle = c.proxies.map((p) => idleRss.get(p) ?? { total: NaN, file: NaN, anon: NaN });
      const us = (x: number) => (a.maxRequests ? (1e6 * x) / a.maxRequests : NaN);
      res.set(c.key, {
        p50: at('p50'), p90: at('p90'), p99: at('p99'), added: { p50: added('p50'), p90: added('p90'), p99: added('p99') },
        cpuPer1k: a.cpu.map((x) => (a.secs ? x / a.secs / (o.rate / 1000) : NaN)), rss: a.rss, idleRss: idle,
        rps: a.rps, rpsPerCore: a.rpsPerCore, maxCpu: { user: us(a.maxUser), sys: us(a.maxSys) }, errors: a.errors,
      });
    }

    // CPU profiles at maximum rate, each of fresh processes started with --cpu-prof: one tsmesh
    // proxy (the one-proxy config), the floor, and the mTLS pair's two proxies. The load's samples
    // only: a profile ends when its process exits, just after the load. Each process's CPU per
    // request is measured over the same load.
    const profiled = async (port: number, waitFor: number[], starters: ((flags: string[]) => Promise<ChildProcess>)[]): Promise<Profile[]> => {
      const dirs = starters.map(() => mkdtempSync(join(dir, 'cpuprofile-')));
      const ps: ChildProcess[] = [];
      for (let i = 0; i < starters.length; i++) ps.push(await starters[i](['--cpu-prof', `--cpu-prof-dir=${dirs[i]}`]));
      for (const w of waitFor) await waitPort(w, 60_000);
      await maxRate(port, 1, o.connections);
      const t0 = ps.map((p) => cpuTimes(p.pid!));
      const loadStarted = performance.now();
      const mr = await maxRate(port, o.profileSeconds, o.connections);
      const loadEnded = performance.now();
      const t1 = ps.map((p) => cpuTimes(p.pid!));
      const requests = Math.max(1, (mr.rps * (loadEnded - loadStarted)) / 1000);
      // the proxy drains and exits, the forwarder exits; --cpu-prof writes the profile on exit
      await Promise.all(ps.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGINT'); })));
      const window = (performance.now() - loadStarted) / 1000;
      return ps.map((_, i) => {
        const file = readdirSync(dirs[i]).find((f) => f.endsWith('.cpuprofile'));
        if (!file) return null;
        const f = join(dirs[i], file);
        return { top: topSelfTime(f, 15, window), kinds: busyByKind(f, window).share, cpu: { user: (1e6 * (t1[i].user - t0[i].user)) / requests, sys: (1e6 * (t1[i].sys - t0[i].sys)) / requests } };
      });
    };
    let profile: Profiles = { tsmesh: null, floor: null, mtlsClient: null, mtlsServer: null };
    if (o.profileSeconds > 0) {
      // its own proxy: the one-proxy listener on its own port, telemetry on, access log off
      const tsProf = await freePort();
      const idP = 'sidecar~127.0.0.1~bench-prof.default~default.svc.cluster.local';
      cache.setSnapshot(idP, Snapshot.create('1', { [TypeUrl.Listener]: [lst('one', tsProf, 'one')], [TypeUrl.RouteConfiguration]: [rc('one', cUp.name!)], [TypeUrl.Cluster]: [cUp], [TypeUrl.ClusterLoadAssignment]: [eUp] }));
      const fwdProf = await freePort();
      const [tsmesh] = await profiled(tsProf, [tsProf], [(flags) => tsProxy('bench-prof', 'off', flags)]);
      const [floor] = await profiled(fwdProf, [fwdProf], [async (flags) => start(pin(1, [process.execPath, ...proxyFlags, ...flags, resolve(root, 'bench/proxy/forwarder.mjs')]), { ...proxyEnv, FORWARDER_LISTEN: String(fwdProf), FORWARDER_UPSTREAM: String(up) })]);
      // the pair's proxies are done measuring: replaced by two with the same pods' config (ports, certificates over SDS)
      await Promise.all([tsA, tsB].map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGKILL'); })));
      const [mtlsClient, mtlsServer] = await profiled(tsMtlsA, [tsMtlsA, tsMtlsB], [(flags) => tsProxy('bench-a', 'off', flags), (flags) => tsProxy('bench-b', 'off', flags)]);
      profile = { tsmesh, floor, mtlsClient, mtlsServer };
    }

    const d = res.get('direct')!;
    const rows: Row[] = [];
    const add = (r: Row) => rows.push({ ...r, value: round(r.value), baseline: r.baseline === null ? null : round(r.baseline), target: r.target === null ? null : round(r.target) });
    add({ case: 'direct', metric: 'p50 latency', unit: 'ms', value: d.p50, baseline: null, target: null });
    add({ case: 'direct', metric: 'p90 latency', unit: 'ms', value: d.p90, baseline: null, target: null });
    add({ case: 'direct', metric: 'p99 latency', unit: 'ms', value: d.p99, baseline: null, target: null });
    add({ case: 'direct', metric: 'max rate', unit: 'rps', value: d.rps, baseline: null, target: null });
    // Targets (the issue's table): one proxy ≥ 0.8 × nginx per core, mTLS pair ≥ 0.6 × nginx TLS
    // pair per core; CPU per 1,000 rps ≤ 1.5 × nginx; mTLS pair P90 ≤ 1.5 ×, P99 ≤ 2 × nginx TLS
    // pair; RSS ≤ 60 MB at 1,000 rps (idle ≤ 50 MB); ≤ 80 MB with 1,000 services.
    const pairs: [string, string, string, { rate?: number; cpu?: boolean; lat?: boolean; rss?: boolean; mesh?: boolean }][] = [
      ['tsmesh-1', 'nginx-1', 'one proxy, access log off as in Istio (tsmesh; baseline nginx)', { rate: 0.8, cpu: true, rss: true }],
      ['tsmesh-1-log', 'nginx-1-log', 'one proxy, access log on (tsmesh; baseline nginx, access log on)', {}],
      ['tsmesh-1-mesh', 'nginx-1', `one proxy holding ${o.services} services (tsmesh; baseline nginx, one proxy)`, { mesh: true }],
      ['node-forwarder', 'nginx-1', 'the floor: a minimal Node.js forwarder on raw sockets, no routing, header rewriting or telemetry (forwarder.mjs; baseline nginx)', {}],
      ['tsmesh-2', 'nginx-2', 'client+server proxies, plaintext (tsmesh; baseline nginx pair)', {}],
      ['tsmesh-2-mtls', 'nginx-2-tls', 'client+server proxies, mTLS + telemetry (tsmesh; baseline nginx TLS pair, client certificates)', { rate: 0.6, cpu: true, lat: true }],
    ];
    for (const [ts, ng, c, t] of pairs) {
      const r = res.get(ts)!;
      const n = res.get(ng)!;
      add({ case: c, metric: 'p50 added latency @1000 rps', unit: 'ms', value: r.added.p50, baseline: n.added.p50, target: null });
      add({ case: c, metric: 'p90 added latency @1000 rps', unit: 'ms', value: r.added.p90, baseline: n.added.p90, target: t.lat ? 1.5 * n.added.p90 : null });
      add({ case: c, metric: 'p99 added latency @1000 rps', unit: 'ms', value: r.added.p99, baseline: n.added.p99, target: t.lat ? 2 * n.added.p99 : null });
      add({ case: c, metric: 'CPU per 1000 rps, per proxy', unit: 'vCPU', value: avg(r.cpuPer1k), baseline: avg(n.cpuPer1k), target: t.cpu ? 1.5 * avg(n.cpuPer1k) : null });
      add({ case: c, metric: 'RSS per proxy, idle with config', unit: 'MB', value: peakOf(r.idleRss).total, baseline: peakOf(n.idleRss).total, target: t.rss ? 50 : t.mesh ? 80 : null });
      add({ case: c, metric: 'RSS per proxy @1000 rps', unit: 'MB', value: peakOf(r.rss).total, baseline: peakOf(n.rss).total, target: t.rss ? 60 : t.mesh ? 80 : null });
      add({ case: c, metric: 'max rate (end to end)', unit: 'rps', value: r.rps, baseline: n.rps, target: null });
      add({ case: c, metric: 'max rate per proxy core', unit: 'rps', value: r.rpsPerCore, baseline: n.rpsPerCore, target: t.rate ? t.rate * n.rpsPerCore : null });
    }
    const gd = res.get('grpc-direct')!;
    const gt = res.get('tsmesh-2-grpc')!;
    const gn = res.get('nginx-2-grpc')!;
    add({ case: 'gRPC direct', metric: 'max rate', unit: 'calls/s', value: gd.rps, baseline: null, target: null });
    const gc = 'client+server proxies, gRPC unary over HTTP/2 (tsmesh; baseline nginx grpc_pass)';
    add({ case: gc, metric: 'max rate (end to end)', unit: 'calls/s', value: gt.rps, baseline: gn.rps, target: null });
    add({ case: gc, metric: 'max rate per proxy core', unit: 'calls/s', value: gt.rpsPerCore, baseline: gn.rpsPerCore, target: null });
    add({ case: gc, metric: 'RSS per proxy at max rate', unit: 'MB', value: peakOf(gt.rss).total, baseline: peakOf(gn.rss).total, target: null });
    writeResults(rows, res, profile, loadStart);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
}

/** The median (the mean of the middle two for an even count); NaN for none. */
function median(a: number[]): number {
  if (!a.length) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function avg(a: number[]): number {
  return a.reduce((x, y) => x + y, 0) / a.length;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** The RSS of a case's largest process. */
const peakOf = (ps: RssParts[]) => ps.reduce((x, y) => (y.total > x.total ? y : x));

const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/**
 * Where the targets' misses come from, from this run's own measurements: CPU per request at
 * maximum rate split into user space and kernel, the one proxy's and the floor's busy time by kind
 * of code, and resident memory split into file-backed and anonymous pages.
 */
function whereMissesComeFrom(res: Map<string, Result>, profile: Profiles): string[] {
  const r = (k: string) => res.get(k)!;
  const tot = (c: CpuPerRequest) => c.user + c.sys;
  const cpuRow = (label: string, k: string) => {
    const c = r(k).maxCpu;
    return `| ${label} | ${fmt(c.user)} | ${fmt(c.sys)} | ${fmt(tot(c))} | ${fmt(1e6 / tot(c), 0)} |`;
  };
  const one = r('tsmesh-1').maxCpu;
  const floor = r('node-forwarder').maxCpu;
  const ng1 = r('nginx-1').maxCpu;
  const mtls = r('tsmesh-2-mtls').maxCpu;
  const ngTls = r('nginx-2-tls').maxCpu;
  const budgetOne = tot(ng1) / 0.8;
  const budgetMtls = tot(ngTls) / 0.6;
  const lines = [
    '## Where the misses come from',
    '',
    "All from this run. **CPU per request at maximum rate:** each proxy process's CPU time over all max-rate rounds (`/proc/<pid>/stat`: user space, and kernel: system calls and the network stack working on its behalf) divided by the requests it served; a pair's two proxies averaged. Its inverse is a rate per proxy core (the table above takes the best round, this the mean of all).",
    '',
    '| case | user µs | kernel µs | total µs | rps per core |',
    '| --- | ---: | ---: | ---: | ---: |',
    cpuRow('nginx, one proxy', 'nginx-1'),
    cpuRow('the floor (forwarder.mjs)', 'node-forwarder'),
    cpuRow('tsmesh, one proxy', 'tsmesh-1'),
    cpuRow(`tsmesh, one proxy holding ${o.services} services`, 'tsmesh-1-mesh'),
    cpuRow('nginx, plaintext pair', 'nginx-2'),
    cpuRow('tsmesh, plaintext pair', 'tsmesh-2'),
    cpuRow('nginx, TLS pair', 'nginx-2-tls'),
    cpuRow('tsmesh, mTLS pair', 'tsmesh-2-mtls'),
    '',
    `- **One proxy, rate per core** (target 0.8 × nginx): nginx's ${fmt(tot(ng1))} µs per request allow ${fmt(budgetOne)} µs. The floor, which only moves bytes, takes ${fmt(tot(floor))} µs (kernel ${fmt(floor.sys)}, user ${fmt(floor.user)}): ${budgetOne >= tot(floor) ? `that leaves ${fmt(budgetOne - tot(floor))} µs for routing, header rewriting, telemetry and timeouts` : `in this run the floor alone is ${fmt(tot(floor) - budgetOne)} µs over it`}. tsmesh spends ${fmt(tot(one) - tot(floor))} µs beyond the floor (user ${fmt(one.user - floor.user)}, kernel ${fmt(one.sys - floor.sys)}).`,
    `- **mTLS pair, rate per core** (target 0.6 × the nginx TLS pair): the nginx TLS pair's ${fmt(tot(ngTls))} µs per request per proxy (user ${fmt(ngTls.user)}, kernel ${fmt(ngTls.sys)}) allow ${fmt(budgetMtls)} µs; tsmesh takes ${fmt(tot(mtls))} µs (user ${fmt(mtls.user)}, kernel ${fmt(mtls.sys)}).`,
    '',
  ];
  const t = profile.tsmesh;
  const f = profile.floor;
  if (t && f) {
    const names: Record<CodeKind, string> = {
      script: "the process's own JavaScript (tsmesh's bundle; the forwarder's script)",
      node: "Node's built-in JavaScript (streams, net, timers)",
      native: 'native functions the profile names (socket writes, with their system calls)',
      program: 'native code outside JavaScript (libuv delivering reads, V8 runtime and compiler)',
      gc: 'garbage collection (main thread)',
    };
    const ts = tot(one);
    const fs = tot(floor);
    lines.push(
      `**Where one proxy's busy time goes:** each kind's share of the busy samples (idle left out) in the CPU profiles below, times that case's CPU per request above, in µs per request. The profiles sample the main thread only.`,
      '',
      '| code | tsmesh | floor | difference |',
      '| --- | ---: | ---: | ---: |',
      ...CODE_KINDS.map((k) => `| ${names[k]} | ${fmt(t.kinds[k] * ts, 2)} | ${fmt(f.kinds[k] * fs, 2)} | ${fmt(t.kinds[k] * ts - f.kinds[k] * fs, 2)} |`),
      `| total | ${fmt(ts, 2)} | ${fmt(fs, 2)} | ${fmt(ts - fs, 2)} |`,
      '',
    );
    const c = profile.mtlsClient;
    const sv = profile.mtlsServer;
    if (c && sv) {
      const us = (p: NonNullable<Profile>, k: CodeKind) => fmt(p.kinds[k] * tot(p.cpu), 2);
      lines.push(
        "**Where the mTLS pair's busy time goes**, each side apart: the same shares in the profiles of the pair's two proxies, times each process's CPU per request measured over its profiled load (the profiler's own cost included; the one proxy's profiled load beside it for comparison), in µs per request.",
        '',
        '| code | one proxy | mTLS client side | mTLS server side |',
        '| --- | ---: | ---: | ---: |',
        ...CODE_KINDS.map((k) => `| ${names[k]} | ${us(t, k)} | ${us(c, k)} | ${us(sv, k)} |`),
        `| total | ${fmt(tot(t.cpu), 2)} | ${fmt(tot(c.cpu), 2)} | ${fmt(tot(sv.cpu), 2)} |`,
        `| of it in the kernel | ${fmt(t.cpu.sys, 2)} | ${fmt(c.cpu.sys, 2)} | ${fmt(sv.cpu.sys, 2)} |`,
        '',
      );
    }
  }
  const mb = (p: RssParts) => `${fmt(p.total)} | ${fmt(p.file)} | ${fmt(p.anon)}`;
  const rssRow = (label: string, k: string) => {
    const x = r(k);
    return [`| ${label}, idle with config | ${mb(peakOf(x.idleRss))} |`, `| ${label}, @${o.rate} rps | ${mb(peakOf(x.rss))} |`];
  };
  const fl = r('node-forwarder');
  const flIdle = peakOf(fl.idleRss);
  const oneIdle = peakOf(r('tsmesh-1').idleRss);
  lines.push(
    "**Resident memory** (`/proc/<pid>/status`): file-backed pages are the node binary's and its libraries' (shared by every process that maps them, but counted in each one's RSS); anonymous pages are the heaps (V8's, malloc's), in MB.",
    '',
    '| process | RSS | file-backed | anonymous |',
    '| --- | ---: | ---: | ---: |',
    ...rssRow('nginx, one proxy', 'nginx-1'),
    ...rssRow('the floor (forwarder.mjs)', 'node-forwarder'),
    ...rssRow('tsmesh, one proxy', 'tsmesh-1'),
    ...rssRow(`tsmesh, one proxy holding ${o.services} services`, 'tsmesh-1-mesh'),
    '',
    `- **RSS targets** (idle ≤ 50 MB, ≤ 60 MB at ${o.rate} rps, ≤ 80 MB with ${o.services} services): the floor, a Node.js process that forwards bytes and holds no proxy code, takes ${fmt(flIdle.total)} MB idle and ${fmt(peakOf(fl.rss).total)} MB at ${o.rate} rps, ${fmt(flIdle.file)} MB of them file-backed. tsmesh's one proxy is ${fmt(oneIdle.total - flIdle.total)} MB above it idle (file-backed ${fmt(oneIdle.file - flIdle.file)}: more of Node's own code in use, TLS, HTTP/2, the compiled bundle; anonymous ${fmt(oneIdle.anon - flIdle.anon)}: V8's heap with the modules and the config).`,
    '',
  );
  return lines;
}

function profileTable(title: string, p: Profile): string[] {
  if (!p) return [`${title}: not taken in this run (\`--profile-seconds 0\`).`, ''];
  return [`${title}; functions by self time (share of all samples, idle and GC included):`, '', '| self time | function | where |', '| ---: | --- | --- |',
    ...p.top.map((e) => `| ${e.percent.toFixed(1)}% | \`${e.fn}\` | ${e.where} |`), ''];
}

function writeResults(rows: Row[], res: Map<string, Result>, profile: Profiles, loadStart: number[]): void {
  const out = resolve(root, o.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.json`, `${JSON.stringify(rows, null, 2)}\n`);
  const higherBetter = (r: Row) => r.metric.startsWith('max rate');
  const verdict = (r: Row) => {
    if (r.target === null) return '';
    const ok = higherBetter(r) ? r.value >= r.target : r.value <= r.target;
    if (ok) return 'met';
    const by = higherBetter(r) ? r.target - r.value : r.value - r.target;
    return `missed by ${round(by)} ${r.unit} (${Math.round((100 * by) / Math.abs(r.target || 1))}%)`;
  };
  const errs = [...res.entries()].map(([k, v]) => `${k} ${v.errors}`).join(', ');
  const la = (l: number[]) => l.map((x) => x.toFixed(1)).join(' / ');
  const md = [
    '# Proxy benchmark',
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. Load average (1/5/15 min) ${la(loadStart)} at the start, ${la(loadavg())} at the end.`,
    `Load: 1 KiB HTTP/1.1 keep-alive GETs from an nginx upstream. Fixed rate: ${o.rate} rps, ${o.rounds} rounds of ${o.duration} s per case (own open-loop client, sub-ms timing), cases interleaved; each percentile is the median over the rounds, and the latency a case adds is its percentile minus direct's in the same round, median over the rounds. Max rate: autocannon, ${o.connections} connections, best of ${o.maxRounds} rounds of ${o.maxDuration} s; gRPC: ${o.grpcConcurrency} unary calls in flight over 4 HTTP/2 connections (100-byte request, 1 KiB response, @grpc/grpc-js server). ${TWO_CORES ? 'Proxies pinned to CPU 1, client and upstream to CPU 0.' : 'No CPU pinning (the scheduler places every process).'} CPU per 1000 rps averaged over all fixed-rate rounds.${o.rt ? ' The fixed-rate phase ran under SCHED_RR (all measured processes alike), the max-rate phase under normal scheduling.' : ''} Errors per case: ${errs}.`,
    `tsmesh proxies run with \`${o.proxyNodeFlags || '(no flags)'}\` and \`${o.proxyEnv || '(no environment)'}\` (as the image does) and the access log off (Istio's default) except in the "access log on" rows (a file, as nginx's \`access_log ... buffer=64k\` beside it). "Idle with config" is RSS 3 s after every listener is up (the config applied and settled), before load. The config-size case is one sidecar holding ${o.services} services (an EDS cluster with circuit breakers and outlier detection, 3 endpoints and a virtual host each).`,
    'Baseline: nginx (Debian) as reverse proxy, one worker, keep-alive upstream pools, measured in the same run. The mTLS pair runs Istio\'s wiring (ISTIO_MUTUAL cluster with SPIFFE check, STRICT inbound chain, workload certificates over SDS) against nginx with TLS 1.3 between its two proxies, each verifying the other\'s certificate (`proxy_ssl_certificate`, `proxy_ssl_verify`, `ssl_verify_client`), certificates from the same root (EC P-256). Targets are the proxy issue\'s (ratios to nginx measured in this run, absolute MB).',
    '',
    '| case | metric | unit | value | baseline | target | result |',
    '| --- | --- | --- | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| ${r.case} | ${r.metric} | ${r.unit} | ${r.value} | ${r.baseline ?? ''} | ${r.target ?? ''} | ${verdict(r)} |`),
    '',
    ...whereMissesComeFrom(res, profile),
    '## CPU profiles',
    '',
    ...profileTable(`One tsmesh proxy (the one-proxy config) at maximum rate for ${o.profileSeconds} s under \`node --cpu-prof\``, profile.tsmesh),
    ...profileTable(`The floor (forwarder.mjs) at maximum rate for ${o.profileSeconds} s under \`node --cpu-prof\``, profile.floor),
    ...profileTable(`The mTLS pair's client side at maximum rate for ${o.profileSeconds} s under \`node --cpu-prof\``, profile.mtlsClient),
    ...profileTable(`The mTLS pair's server side, the same load`, profile.mtlsServer),
  ].join('\n');
  writeFileSync(`${out}.md`, md);
  console.log(`\nwrote ${o.out}.json and ${o.out}.md`);
}

void main();
