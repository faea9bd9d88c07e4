/**
 * The mesh CA as a real process for integration tests: the built bundle `dist/apps/ca/main.js`
 * when present, else its source through tsx; a JWKS file and a minting key for
 * service-account tokens shaped like Kubernetes projected tokens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const root = resolve(import.meta.dirname, '../../..');

/** A running CA. */
export interface CaProcess {
  address: string;
  /** The trust bundle the CA publishes (`--bundle-out`). */
  rootPem: string;
  bundleFile: string;
  dir: string;
  /** Mints a service-account token for the CA (audience `istio-ca`). */
  mint(namespace: string, serviceAccount: string): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the CA on an ephemeral loopback port; resolves once it prints its ready line. */
export async function startCa(): Promise<CaProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-ca-'));
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  const bundleFile = join(dir, 'root-cert.pem');
  const bundle = join(root, 'dist/apps/ca/main.js');
  const args = ['--listen', '127.0.0.1:0', '--monitoring', 'off', '--jwks', jwksFile, '--root-file', join(dir, 'root.pem'), '--bundle-out', bundleFile,
    '--cacerts', join(dir, 'none'), '--log-level', 'warn'];
  const child: ChildProcess = existsSync(bundle)
    ? spawn(process.execPath, [bundle, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['--import', 'tsx', 'apps/ca/src/main.ts', ...args], { cwd: root, env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.base.json' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ready = await new Promise<{ grpcPort: number }>((ok, fail) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) ok(JSON.parse(line));
    });
    child.once('exit', (code) => fail(new Error(`CA exited ${code}: ${stderr}`)));
  });
  return {
    address: `127.0.0.1:${ready.grpcPort}`,
    rootPem: readFileSync(bundleFile, 'utf8'),
    bundleFile,
    dir,
    mint: (namespace, serviceAccount) => new SignJWT({ 'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid: 'u1' }, pod: { name: `${serviceAccount}-0`, uid: 'p1' } } })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject(`system:serviceaccount:${namespace}:${serviceAccount}`)
      .setAudience('istio-ca')
      .setIssuer('https://kubernetes.default.svc.cluster.local')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey),
    stop: async () => {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
