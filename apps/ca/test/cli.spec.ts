import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CaClient, parseCertificate } from '@tsmesh/certs';
import { configFrom, csrFor, tempDir, tokenIssuer } from './helpers';

const root = resolve(import.meta.dirname, '../../..');
const tmp = tempDir();
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

/** Runs `apps/ca/src/main.ts` through tsx, as a real process. */
function runCa(args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/ca/src/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.base.json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

function collect(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
}

describe('command line', () => {
  beforeAll(() => {
    expect(existsSync(join(root, 'apps/ca/src/main.ts'))).toBe(true);
  });

  it('has the documented defaults', () => {
    const c = configFrom(['--jwks', 'x.json']);
    expect(c).toMatchObject({ listen: '0.0.0.0:8060', trustDomain: 'cluster.local', defaultTtlSeconds: 86400, maxTtlSeconds: 2160 * 3600, cacertsDir: '/etc/cacerts', audiences: ['istio-ca'], monitoringPort: 15014 });
  });

  it('refuses to start without a way to authenticate, naming the flags', async () => {
    const r = await collect(runCa(['--listen', '127.0.0.1:0']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CA_CONFIG: no way to authenticate callers: give --jwks <file> (local runtime) or --kubernetes');
  });

  it('refuses a default TTL above the maximum', () => {
    expect(() => configFrom(['--jwks', 'x', '--default-ttl', '48h', '--max-ttl', '24h'])).toThrow(/--default-ttl \(48h\) is above --max-ttl \(24h\)/);
  });

  it('starts, issues, writes the bundle, and stops on SIGTERM', async () => {
    const tokens = await tokenIssuer(tmp.dir);
    const bundle = join(tmp.dir, 'out', 'root-cert.pem');
    const child = runCa(['--listen', '127.0.0.1:0', '--monitoring', '0', '--jwks', tokens.jwksFile, '--root-file', join(tmp.dir, 'root.pem'), '--bundle-out', bundle, '--cacerts', join(tmp.dir, 'none'), '--log-level', 'warn']);
    const done = collect(child);
    const ready = await new Promise<{ grpcPort: number; monitoringPort: number }>((resolveReady, reject) => {
      let buf = '';
      child.stdout!.on('data', (d) => {
        buf += d;
        const line = buf.split('\n').find((l) => l.startsWith('{'));
        if (line) resolveReady(JSON.parse(line));
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const rootPem = readFileSync(bundle, 'utf8');
    const client = new CaClient({ address: `127.0.0.1:${ready.grpcPort}`, rootPem, serverName: 'istio-ca.istio-system.svc' });
    try {
      const chain = await client.createCertificate({ csr: (await csrFor()).csr, token: await tokens.mint({ namespace: 'ns1', serviceAccount: 'sa1' }) });
      expect(parseCertificate(chain[0]).spiffeId).toBe('spiffe://cluster.local/ns/ns1/sa/sa1');
      const metrics = await (await fetch(`http://127.0.0.1:${ready.monitoringPort}/metrics`)).text();
      expect(metrics).toMatch(/^tsmesh_ca_certs_issued_total 1$/m);
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });
});
