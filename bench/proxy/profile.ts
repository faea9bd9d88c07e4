/**
 * Profiles one proxy under load (not part of the benchmark results): node --cpu-prof on the
 * proxy, autocannon for a few seconds, then prints the functions with the most self time.
 *   node --import tsx bench/proxy/profile.ts [seconds]
 */
import { spawn } from 'node:child_process';
import { readdirSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { topSelfTime } from './cpuprofile';
import { AdsServer, SnapshotCache, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost } from '@tsmesh/xds';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const seconds = Number(process.argv[2] ?? 5);
const body = 'x'.repeat(1024);
const up = http.createServer((_q, s) => { s.writeHead(200, { 'content-length': '1024', 'content-type': 'text/plain' }); s.end(body); });
await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
const upPort = (up.address() as net.AddressInfo).port;
const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
const cache = new SnapshotCache();
const ads = new AdsServer({ cache });
const adsPort = await ads.listen('127.0.0.1:0');
cache.setSnapshot('sidecar~127.0.0.1~prof.default~default.svc.cluster.local', Snapshot.create('1', {
  [TypeUrl.Listener]: [listener({ name: 'l', address: '127.0.0.1', port, filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'l', rdsName: 'r' })] }] })],
  [TypeUrl.RouteConfiguration]: [routeConfiguration('r', [virtualHost('v', ['*'], [route({ cluster: 'c', timeoutMs: 0 })])])],
  [TypeUrl.Cluster]: [cluster({ name: 'c' })],
  [TypeUrl.ClusterLoadAssignment]: [clusterLoadAssignment('c', [{ address: '127.0.0.1', port: upPort }])],
}));
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-prof-'));
const p = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, resolve(root, 'dist/apps/proxy/main.js'), 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${adsPort}`,
  '--admin-port', '0', '--status-port', '0', '--prometheus-port', '0', '--log-level', 'warn', '--drain-duration', '100ms', '--access-log', 'off'], { env: { ...process.env, POD_NAME: 'prof', POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' }, stdio: 'inherit' });
await new Promise((r) => setTimeout(r, 1500));
const res = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 32, duration: seconds });
console.log(`rps ${res.requests.average}, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, errors ${res.errors + res.non2xx}`);
p.kill('SIGTERM');
await new Promise((r) => p.once('exit', r));
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
for (const e of topSelfTime(join(dir, file), 30)) console.log(`${e.percent.toFixed(1).padStart(5)}%  ${e.fn} ${e.where}`);
up.close();
await ads.close();
process.exit(0);
