/**
 * CA benchmark: certificates signed per second on one core and p99 signing latency, through the
 * real gRPC/TLS CreateCertificate service (JWT authentication included), against two references
 * measured in the same run: in-process signing with libs/certs (no gRPC, no auth) and
 * `openssl x509 -req` (one process per certificate).
 * Writes bench/results/ca.json and bench/results/ca.md. Not a test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair as joseKeyPair, SignJWT } from 'jose';
import { CaClient, createCsr, createRootCa, exportPrivateKeyPem, generateKeyPair, signCsr } from '@tsmesh/certs';

const root = resolve(import.meta.dirname, '../..');
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const REQUESTS = Number(args.get('requests') ?? 3000);
const CONCURRENCY = Number(args.get('concurrency') ?? 16);
const LATENCY_REQUESTS = Number(args.get('latency-requests') ?? 1000);
const OPENSSL_CERTS = Number(args.get('openssl-certs') ?? 200);
const CSR_POOL = 200;

interface Row { case: string; metric: string; unit: string; value: number; baseline: number | null; target: number | null }

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-bench-ca-'));
  let child: ChildProcess | undefined;
  try {
    log(`preparing ${CSR_POOL} CSRs and a token`);
    const csrs: string[] = [];
    for (let i = 0; i < CSR_POOL; i++) csrs.push(await createCsr(await generateKeyPair(), { spiffeId: 'spiffe://cluster.local/ns/bench/sa/load' }));
    const { privateKey, publicKey } = await joseKeyPair('ES256', { extractable: true });
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] }));
    const token = await new SignJWT({ 'kubernetes.io': { namespace: 'bench', serviceaccount: { name: 'load' } } })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setSubject('system:serviceaccount:bench:load').setAudience('istio-ca').setIssuedAt().setExpirationTime('2h').sign(privateKey);

    // Reference 1: in-process signing with libs/certs (CSR parse + verify + sign), no gRPC, no auth.
    log('reference: in-process signCsr');
    const issuer = await createRootCa();
    for (let i = 0; i < 100; i++) await signCsr(issuer, csrs[i % CSR_POOL], { spiffeId: 'spiffe://cluster.local/ns/bench/sa/load' });
    const rawLat: number[] = [];
    const rawCpu = process.cpuUsage();
    const rawStart = performance.now();
    for (let i = 0; i < LATENCY_REQUESTS; i++) {
      const t = performance.now();
      await signCsr(issuer, csrs[i % CSR_POOL], { spiffeId: 'spiffe://cluster.local/ns/bench/sa/load' });
      rawLat.push(performance.now() - t);
    }
    const rawRate = LATENCY_REQUESTS / ((performance.now() - rawStart) / 1000);
    const rawCpuUsed = process.cpuUsage(rawCpu);
    const rawCpuPerCert = (rawCpuUsed.user + rawCpuUsed.system) / 1000 / LATENCY_REQUESTS;
    rawLat.sort((a, b) => a - b);

    // Reference 2: openssl x509 -req, one process per certificate, same CA key type (P-256).
    log('reference: openssl x509 -req');
    writeFileSync(join(dir, 'ca.pem'), issuer.cert.pem);
    writeFileSync(join(dir, 'ca.key'), await exportPrivateKeyPem(issuer.keys.privateKey));
    writeFileSync(join(dir, 'req.csr'), csrs[0]);
    writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:spiffe://cluster.local/ns/bench/sa/load\n');
    const osslStart = performance.now();
    for (let i = 0; i < OPENSSL_CERTS; i++) {
      const r = spawnSync('openssl', ['x509', '-req', '-in', 'req.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(i + 1), '-days', '1', '-extfile', 'ext.cnf', '-out', 'out.pem'], { cwd: dir, stdio: 'ignore' });
      if (r.status !== 0) throw new Error('openssl x509 -req failed');
    }
    const osslRate = OPENSSL_CERTS / ((performance.now() - osslStart) / 1000);

    // The real service: the CA as its own process, pinned to one core with one crypto thread.
    log(`starting the CA${hasTaskset ? ' on core 0' : ''}`);
    const caArgs = ['--import', 'tsx', 'apps/ca/src/main.ts', '--listen', '127.0.0.1:0', '--monitoring', 'off', '--jwks', join(dir, 'jwks.json'),
      '--root-file', join(dir, 'root.pem'), '--bundle-out', join(dir, 'bundle.pem'), '--cacerts', join(dir, 'none'), '--log-level', 'warn'];
    const cmd = hasTaskset ? 'taskset' : process.execPath;
    child = spawn(cmd, hasTaskset ? ['-c', '0', process.execPath, ...caArgs] : caArgs, {
      cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, UV_THREADPOOL_SIZE: '1', TSX_TSCONFIG_PATH: join(root, 'tsconfig.base.json') },
    });
    const grpcPort = await new Promise<number>((ok, fail) => {
      let buf = '';
      child!.stdout!.on('data', (d) => {
        buf += d;
        const line = buf.split('\n').find((l) => l.startsWith('{'));
        if (line) ok((JSON.parse(line) as { grpcPort: number }).grpcPort);
      });
      child!.on('exit', (c) => fail(new Error(`CA exited with ${c}`)));
    });
    if (hasTaskset) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    const client = new CaClient({ address: `127.0.0.1:${grpcPort}`, rootPem: readFileSync(join(dir, 'bundle.pem'), 'utf8'), serverName: 'istio-ca.istio-system.svc' });
    const call = (i: number) => client.createCertificate({ csr: csrs[i % CSR_POOL], token, validitySeconds: 3600 });
    for (let i = 0; i < 300; i++) await call(i);

    log(`latency: ${LATENCY_REQUESTS} requests, one at a time`);
    const lat: number[] = [];
    for (let i = 0; i < LATENCY_REQUESTS; i++) {
      const t = performance.now();
      await call(i);
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);

    log(`throughput: ${REQUESTS} requests, ${CONCURRENCY} in flight`);
    let next = 0;
    const loadLat: number[] = [];
    const cpuBefore = processCpuMs(child.pid!);
    const start = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        const t = performance.now();
        await call(i);
        loadLat.push(performance.now() - t);
      }
    }));
    const rate = REQUESTS / ((performance.now() - start) / 1000);
    const caCpuPerCert = (processCpuMs(child.pid!) - cpuBefore) / REQUESTS;
    loadLat.sort((a, b) => a - b);
    client.close();

    const core = hasTaskset ? 'CA pinned to 1 core, 1 crypto thread' : 'CA unpinned, 1 crypto thread';
    const rows: Row[] = [
      { case: `CreateCertificate over gRPC/TLS + JWT auth, ${CONCURRENCY} in flight (${core})`, metric: 'throughput', unit: 'certs/s', value: round(rate, 0), baseline: round(rawRate, 0), target: 100 },
      { case: `CreateCertificate over gRPC/TLS + JWT auth, ${CONCURRENCY} in flight (${core})`, metric: 'p99 latency', unit: 'ms', value: round(percentile(loadLat, 99)), baseline: null, target: null },
      { case: `CreateCertificate over gRPC/TLS + JWT auth, 1 in flight (${core})`, metric: 'p50 latency', unit: 'ms', value: round(percentile(lat, 50)), baseline: round(percentile(rawLat, 50)), target: null },
      { case: `CreateCertificate over gRPC/TLS + JWT auth, 1 in flight (${core})`, metric: 'p99 latency', unit: 'ms', value: round(percentile(lat, 99)), baseline: round(percentile(rawLat, 99)), target: 25 },
      { case: `CreateCertificate over gRPC/TLS + JWT auth, ${CONCURRENCY} in flight: CA process CPU`, metric: 'certs per CPU-second', unit: 'certs/s', value: round(1000 / caCpuPerCert, 0), baseline: round(1000 / rawCpuPerCert, 0), target: 100 },
      { case: `CreateCertificate over gRPC/TLS + JWT auth, ${CONCURRENCY} in flight: CA process CPU`, metric: 'CPU per certificate', unit: 'ms', value: round(caCpuPerCert), baseline: round(rawCpuPerCert), target: null },
      { case: 'reference: signCsr in-process (libs/certs, no gRPC, no auth, unpinned)', metric: 'throughput', unit: 'certs/s', value: round(rawRate, 0), baseline: null, target: null },
      { case: 'reference: signCsr in-process (libs/certs, no gRPC, no auth, unpinned)', metric: 'p99 latency', unit: 'ms', value: round(percentile(rawLat, 99)), baseline: null, target: null },
      { case: 'reference: openssl x509 -req, one process per certificate (P-256 CA)', metric: 'throughput', unit: 'certs/s', value: round(osslRate, 0), baseline: null, target: null },
    ];
    writeResults(rows);
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeResults(rows: Row[]): void {
  const out = join(root, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'ca.json'), JSON.stringify(rows, null, 2) + '\n');
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim();
  const md = [
    '# CA benchmark',
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), Node ${process.version}, ${openssl}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (the machine is shared, so numbers move with other work).`,
    `Run: ${new Date().toISOString()}, \`node bench/ca/run.mjs\` (${REQUESTS} requests at ${CONCURRENCY} in flight; ${LATENCY_REQUESTS} one at a time; ${OPENSSL_CERTS} openssl runs).`,
    '',
    '| case | metric | unit | value | baseline | target |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.case} | ${r.metric} | ${r.unit} | ${r.value} | ${r.baseline ?? '—'} | ${r.target ?? '—'} |`),
    '',
    'Baseline: in-process `signCsr` measured in the same run (the cost of gRPC, TLS and JWT verification is the difference).',
    '"certs per CPU-second" divides by the CA process\'s own CPU time (from /proc), so it does not move with other load on a shared machine; wall-clock rates and latencies do.',
    'Targets: 100 certs/s on one core (1000 pods starting within 10 s) and p99 ≤ 25 ms for a lone request.',
    '',
  ].join('\n');
  writeFileSync(join(out, 'ca.md'), md);
  process.stdout.write(md);
}

/** User + system CPU time of a process in ms, from /proc (Linux); NaN elsewhere. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    return (ticks * 1000) / hz;
  } catch {
    return Number.NaN;
  }
}

function log(msg: string): void {
  process.stderr.write(`bench/ca: ${msg}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/ca failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
