/** Test helpers: a JWKS with a signing key (what the local runtime holds), a started CA, a client. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey as JoseKey } from 'jose';
import { pino } from 'pino';
import type { KubeConfig } from '@kubernetes/client-node';
import { CaClient, createCsr, generateKeyPair as generateCertKeys, type KeyPair } from '@tsmesh/certs';
import { buildCli, toConfig, type CaConfig } from '../src/config';
import { startCa, type StartedCa } from '../src/app';

/** A temporary directory removed by `cleanup`. */
export function tempDir(prefix = 'tsmesh-ca-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A token signer and the JWKS file that verifies it. */
export interface TokenIssuer {
  jwksFile: string;
  mint(opts?: { namespace?: string; serviceAccount?: string; expiresIn?: string | number; audience?: string; sub?: string; kubernetesIo?: object | null }): Promise<string>;
}

/** Creates an ES256 key, writes its public JWKS to `dir/jwks.json`, and mints Kubernetes-style tokens. */
export async function tokenIssuer(dir: string, kid = 'runtime-1'): Promise<TokenIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const jwksFile = join(dir, `jwks-${kid}.json`);
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  return { jwksFile, mint: (o = {}) => mintWith(privateKey, kid, o) };
}

/** Mints a service-account token shaped like a Kubernetes projected token. */
export function mintWith(key: JoseKey, kid: string, o: Parameters<TokenIssuer['mint']>[0] = {}): Promise<string> {
  const ns = o.namespace ?? 'default';
  const sa = o.serviceAccount ?? 'callme';
  const k8s = o.kubernetesIo === undefined ? { namespace: ns, serviceaccount: { name: sa, uid: '5f6e-0000' }, pod: { name: `${sa}-pod`, uid: '1a2b-0000' } } : o.kubernetesIo;
  const jwt = new SignJWT(k8s ? { 'kubernetes.io': k8s } : {})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setSubject(o.sub ?? `system:serviceaccount:${ns}:${sa}`)
    .setAudience(o.audience ?? 'istio-ca')
    .setIssuer('https://kubernetes.default.svc.cluster.local')
    .setIssuedAt();
  if (typeof o.expiresIn === 'number') jwt.setExpirationTime(o.expiresIn);
  else jwt.setExpirationTime(o.expiresIn ?? '1h');
  return jwt.sign(key);
}

/** Parses CLI-style flags into a config, as `main.ts` does (without starting). */
export function configFrom(args: string[]): CaConfig {
  let captured: CaConfig | undefined;
  const cli = buildCli(async (c) => {
    captured = c;
  });
  cli.exitOverride();
  cli.parse(['node', 'ca', ...args]);
  if (!captured) throw new Error('no config');
  return captured;
}

/** Starts a CA on loopback with ephemeral ports from CLI-style flags. */
export function startTestCa(args: string[], kc?: KubeConfig): Promise<StartedCa> {
  const config = configFrom(['--listen', '127.0.0.1:0', '--monitoring', '0', '--cacerts', '/nonexistent-cacerts', ...args]);
  return startCa(config, pino({ level: 'silent' }), kc);
}

/** A client trusting `rootPem` and checking the CA's default serving name. */
export function clientFor(ca: StartedCa, rootPem = ca.issuer.rootPem): CaClient {
  return new CaClient({ address: `127.0.0.1:${ca.grpcPort}`, rootPem, serverName: 'istio-ca.istio-system.svc' });
}

/** A fresh P-256 key and a CSR for `spiffeId`. */
export async function csrFor(spiffeId?: string): Promise<{ keys: KeyPair; csr: string }> {
  const keys = await generateCertKeys();
  return { keys, csr: await createCsr(keys, { spiffeId }) };
}

/** Runs openssl in `dir`; returns stdout (throws with stderr on failure). */
export function openssl(dir: string, ...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export { toConfig };
