import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import { exportPrivateKeyPem, generateKeyPair, joinPem, parseCertificate, peerSpiffeId, createRootCa, createWorkloadCert } from '@tsmesh/certs';
import type { StartedCa } from '../src/app';
import { clientFor, csrFor, openssl, startTestCa, tempDir, tokenIssuer, type TokenIssuer } from './helpers';

const ID = 'spiffe://cluster.local/ns/default/sa/callme';
const tmp = tempDir();
let tokens: TokenIssuer;
let ca: StartedCa;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  tokens = await tokenIssuer(tmp.dir);
  ca = await startTestCa(['--jwks', tokens.jwksFile, '--root-file', join(tmp.dir, 'root.pem'), '--bundle-out', join(tmp.dir, 'bundle', 'root-cert.pem'), '--max-ttl', '48h']);
  cleanups.push(() => ca.close());
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  tmp.cleanup();
});

/** A fuzzing seed CSR (testdata/fuzz) with its DER changed by `edit`, as PEM. */
function fuzzSeed(file: string, edit: (der: Buffer) => Buffer): string {
  const text = readFileSync(join(import.meta.dirname, 'testdata', 'fuzz', file), 'utf8');
  const der = edit(Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
  return `-----BEGIN CERTIFICATE REQUEST-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** Sets the byte `offset` bytes into the first occurrence of `hexNeedle`. */
function patch(der: Buffer, hexNeedle: string, offset: number, value: number): Buffer {
  const at = der.indexOf(Buffer.from(hexNeedle, 'hex'));
  if (at < 0) throw new Error(`${hexNeedle} not in the seed`);
  der[at + offset] = value;
  return der;
}

/** Asks the CA for a certificate; returns the chain or the gRPC error. */
async function ask(req: { csr: string; token?: string; validitySeconds?: number }): Promise<string[] | ServiceError> {
  const client = clientFor(ca);
  try {
    return await client.createCertificate(req);
  } catch (err) {
    return err as ServiceError;
  } finally {
    client.close();
  }
}

describe('CreateCertificate over gRPC/TLS (local runtime, JWT)', () => {
  it('issues a chain for the token identity, leaf first and root last, that openssl verifies', async () => {
    const { keys, csr } = await csrFor(ID);
    const chain = (await ask({ csr, token: await tokens.mint() })) as string[];
    expect(chain).toHaveLength(2);
    const leaf = parseCertificate(chain[0]);
    expect(leaf.spiffeId).toBe(ID);
    expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe((24 * 3600 + 60) * 1000);
    expect(chain[1]).toBe(ca.issuer.rootPem);
    const bundle = readFileSync(join(tmp.dir, 'bundle', 'root-cert.pem'), 'utf8');
    expect(bundle).toBe(chain[chain.length - 1]);
    writeFileSync(join(tmp.dir, 'leaf.pem'), chain[0]);
    writeFileSync(join(tmp.dir, 'chain.pem'), joinPem(chain));
    expect(openssl(tmp.dir, 'verify', '-CAfile', join('bundle', 'root-cert.pem'), '-untrusted', 'chain.pem', 'leaf.pem')).toContain('leaf.pem: OK');
    // the issued key pair is the CSR's
    expect(await exportPrivateKeyPem(keys.privateKey)).toContain('PRIVATE KEY');
  });

  it('issues for a CSR with no SAN, with the identity taken from the token', async () => {
    const { csr } = await csrFor();
    const chain = (await ask({ csr, token: await tokens.mint({ namespace: 'shop', serviceAccount: 'cart' }), validitySeconds: 3600 })) as string[];
    const leaf = parseCertificate(chain[0]);
    expect(leaf.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/cart');
    expect(leaf.notAfter.getTime() - leaf.notBefore.getTime()).toBe((3600 + 60) * 1000);
  });

  it('issues chains that complete a mutual-TLS handshake checking SPIFFE IDs, and refuse a foreign root', async () => {
    const server = await certFromCa('default', 'callme');
    const client = await certFromCa('default', 'caller');
    const root = ca.issuer.rootPem;
    const accepted: string[] = [];
    const srv = tls.createServer({ key: server.keyPem, cert: server.chainPem, ca: root, requestCert: true, rejectUnauthorized: true }, (s) => {
      const peer = peerSpiffeId(s.getPeerCertificate());
      accepted.push(String(peer));
      // the server checks the client's identity as the client checks the server's
      if (peer !== 'spiffe://cluster.local/ns/default/sa/caller') s.destroy();
      else s.end('ok');
    });
    srv.on('tlsClientError', () => {});
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    const port = (srv.address() as AddressInfo).port;
    const dial = (c: { keyPem: string; chainPem: string }, expectServer: string) =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({
          host: '127.0.0.1', port, key: c.keyPem, cert: c.chainPem, ca: root,
          checkServerIdentity: (_h, peer) => (peerSpiffeId(peer) === expectServer ? undefined : new Error(`server is ${peerSpiffeId(peer)}`)),
        });
        let data = '';
        s.on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
      });
    expect(await dial(client, 'spiffe://cluster.local/ns/default/sa/callme')).toBe('ok');
    expect(accepted).toEqual(['spiffe://cluster.local/ns/default/sa/caller']);
    const foreign = await createWorkloadCert(await createRootCa(), { identity: 'spiffe://cluster.local/ns/default/sa/caller' });
    const answer = await dial(foreign, 'spiffe://cluster.local/ns/default/sa/callme').catch((e: Error) => e.message);
    expect(answer).not.toBe('ok');
    expect(accepted).toHaveLength(1);
    // a cert from this CA for another identity gets through TLS but fails the server's SPIFFE check
    const other = await certFromCa('default', 'intruder');
    expect(await dial(other, 'spiffe://cluster.local/ns/default/sa/callme').catch((e: Error) => e.message)).not.toBe('ok');
    expect(accepted.at(-1)).toBe('spiffe://cluster.local/ns/default/sa/intruder');
  });

  it('serves /metrics and /ready', async () => {
    const base = `http://127.0.0.1:${ca.monitoringPort}`;
    expect((await fetch(`${base}/ready`)).status).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^citadel_server_success_cert_issuance_count \d+$/m);
    expect(text).toMatch(/^tsmesh_ca_signing_duration_seconds_count [1-9]\d*$/m);
    expect(text).toContain('# TYPE tsmesh_ca_signing_duration_seconds histogram');
    expect(text).toMatch(/^process_resident_memory_bytes [1-9]\d*$/m);
    expect(text).toMatch(/^process_start_time_seconds [1-9]/m);
  });
});

describe('bad input gets a precise status and issues nothing', () => {
  const cases: [string, () => Promise<{ csr: string; token?: string; validitySeconds?: number }>, number, string][] = [
    ['garbage CSR', async () => ({ csr: 'hello', token: await tokens.mint() }), status.INVALID_ARGUMENT, 'CERTS_INVALID_CSR'],
    ['CSR for another identity', async () => ({ csr: (await csrFor('spiffe://cluster.local/ns/kube-system/sa/admin')).csr, token: await tokens.mint() }), status.PERMISSION_DENIED, 'CERTS_IDENTITY_MISMATCH'],
    ['RSA 512 key', async () => {
      openssl(tmp.dir, 'req', '-new', '-newkey', 'rsa:512', '-nodes', '-keyout', 'weak.key', '-subj', '/', '-addext', `subjectAltName=URI:${ID}`, '-out', 'weak.csr');
      return { csr: readFileSync(join(tmp.dir, 'weak.csr'), 'utf8'), token: await tokens.mint() };
    }, status.INVALID_ARGUMENT, 'CERTS_UNSUPPORTED_KEY'],
    ['missing token', async () => ({ csr: (await csrFor(ID)).csr }), status.UNAUTHENTICATED, 'CA_TOKEN_MISSING'],
    ['expired token', async () => ({ csr: (await csrFor(ID)).csr, token: await tokens.mint({ expiresIn: Math.floor(Date.now() / 1000) - 60 }) }), status.UNAUTHENTICATED, 'CA_TOKEN_EXPIRED'],
    ['forged token (same kid, another key)', async () => {
      const forger = await tokenIssuer(tempDirFor('forger'), 'runtime-1');
      return { csr: (await csrFor(ID)).csr, token: await forger.mint() };
    }, status.UNAUTHENTICATED, 'CA_TOKEN_INVALID'],
    ['token for another audience', async () => ({ csr: (await csrFor(ID)).csr, token: await tokens.mint({ audience: 'https://kubernetes.default.svc' }) }), status.UNAUTHENTICATED, 'CA_TOKEN_INVALID'],
    ['token that is not a service account', async () => ({ csr: (await csrFor(ID)).csr, token: await tokens.mint({ sub: 'admin@example.com', kubernetesIo: null }) }), status.UNAUTHENTICATED, 'CA_NOT_SERVICE_ACCOUNT'],
    // Found by test/fuzz.spec.ts: a malformed RSA key used to escape as INTERNAL; a BER-only ECDSA
    // signature (its SEQUENCE tag changed) and non-NULL RSA algorithm parameters used to be signed.
    ['CSR whose RSA modulus is not an INTEGER', async () => ({ csr: fuzzSeed('openssl-rsa2048-spiffe.csr', (d) => patch(d, '3082010a02820101', 4, 0x04)), token: await tokens.mint() }), status.INVALID_ARGUMENT, 'CERTS_INVALID_CSR'],
    ['CSR with a BER-only ECDSA signature', async () => ({ csr: fuzzSeed('p256-spiffe.csr', (d) => patch(d, '300a06082a8648ce3d040302', 15, 0xa0)), token: await tokens.mint() }), status.INVALID_ARGUMENT, 'CERTS_INVALID_CSR'],
    ['CSR whose RSA signature algorithm has INTEGER parameters', async () => ({ csr: fuzzSeed('openssl-rsa2048-spiffe.csr', (d) => patch(d, '2a864886f70d01010b0500', 9, 0x02)), token: await tokens.mint() }), status.INVALID_ARGUMENT, 'CERTS_INVALID_CSR'],
    ['TTL above the maximum', async () => ({ csr: (await csrFor(ID)).csr, token: await tokens.mint(), validitySeconds: 49 * 3600 }), status.INVALID_ARGUMENT, 'CERTS_INVALID_TTL'],
    ['negative TTL', async () => ({ csr: (await csrFor(ID)).csr, token: await tokens.mint(), validitySeconds: -5 }), status.INVALID_ARGUMENT, 'CERTS_INVALID_TTL'],
  ];

  for (const [name, make, code, reason] of cases) {
    it(`${name} → ${status[code]} (${reason})`, async () => {
      const req = await make();
      const issuedBefore = ca.metrics.issued;
      const refusedBefore = ca.metrics.refusedCount(reason);
      const err = (await ask(req)) as ServiceError;
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(code);
      expect(err.metadata.get('x-tsmesh-error-code')).toEqual([reason]);
      expect(ca.metrics.issued).toBe(issuedBefore);
      expect(ca.metrics.refusedCount(reason)).toBe(refusedBefore + 1);
    });
  }

  it('a request over 64 KiB → RESOURCE_EXHAUSTED, before any parsing', async () => {
    const err = (await ask({ csr: 'x'.repeat(70 * 1024), token: await tokens.mint() })) as ServiceError;
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('keeps serving after bad input', async () => {
    expect(Array.isArray(await ask({ csr: (await csrFor(ID)).csr, token: await tokens.mint() }))).toBe(true);
  });
});

describe('root of trust', () => {
  it('keeps the same root across a restart with --root-file', async () => {
    const d = tempDir();
    cleanups.push(d.cleanup);
    const args = ['--jwks', tokens.jwksFile, '--root-file', join(d.dir, 'ca-root.pem'), '--bundle-out', join(d.dir, 'bundle.pem')];
    const first = await startTestCa(args);
    expect(first.rootSource).toBe('file');
    const root1 = first.issuer.rootPem;
    await first.close();
    const second = await startTestCa(args);
    cleanups.push(() => second.close());
    expect(second.issuer.rootPem).toBe(root1);
    expect(readFileSync(join(d.dir, 'bundle.pem'), 'utf8')).toBe(root1);
    const client = clientFor(second, root1);
    try {
      const chain = await client.createCertificate({ csr: (await csrFor(ID)).csr, token: await tokens.mint() });
      expect(chain[chain.length - 1]).toBe(root1);
    } finally {
      client.close();
    }
  });

  it("serves a plug-in CA (Istio's cacerts layout) leaf-to-root", async () => {
    const d = tempDir();
    cleanups.push(d.cleanup);
    // An operator's root and intermediate made with openssl, as Istio's docs make them.
    const o = (...a: string[]) => openssl(d.dir, ...a);
    o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root-key.pem', '-out', 'root-cert.pem', '-days', '3650', '-subj', '/O=Istio/CN=Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    o('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.csr', '-subj', '/O=Istio/CN=Intermediate CA/L=cluster1');
    writeFileSync(join(d.dir, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nsubjectAltName=DNS:istiod.istio-system.svc\n');
    o('x509', '-req', '-in', 'ca.csr', '-CA', 'root-cert.pem', '-CAkey', 'root-key.pem', '-CAcreateserial', '-days', '730', '-extfile', 'ext.cnf', '-out', 'ca-cert.pem');
    writeFileSync(join(d.dir, 'cert-chain.pem'), readFileSync(join(d.dir, 'ca-cert.pem'), 'utf8') + readFileSync(join(d.dir, 'root-cert.pem'), 'utf8'));
    const plugged = await startTestCa(['--jwks', tokens.jwksFile, '--cacerts', d.dir]);
    cleanups.push(() => plugged.close());
    expect(plugged.rootSource).toBe('cacerts');
    const rootPem = readFileSync(join(d.dir, 'root-cert.pem'), 'utf8');
    const client = clientFor(plugged, rootPem);
    try {
      const chain = await client.createCertificate({ csr: (await csrFor(ID)).csr, token: await tokens.mint() });
      expect(chain.map((c) => parseCertificate(c).subject)).toEqual(['', 'O=Istio, CN=Intermediate CA, L=cluster1', 'O=Istio, CN=Root CA']);
      writeFileSync(join(d.dir, 'issued.pem'), chain[0]);
      writeFileSync(join(d.dir, 'issued-chain.pem'), joinPem(chain.slice(1)));
      expect(openssl(d.dir, 'verify', '-CAfile', 'root-cert.pem', '-untrusted', 'issued-chain.pem', 'issued.pem')).toContain('OK');
    } finally {
      client.close();
    }
  });

  it('refuses to start on plug-in files whose key does not match', async () => {
    const d = tempDir();
    cleanups.push(d.cleanup);
    const root = await createRootCa();
    writeFileSync(join(d.dir, 'ca-cert.pem'), root.cert.pem);
    writeFileSync(join(d.dir, 'root-cert.pem'), root.rootPem);
    writeFileSync(join(d.dir, 'ca-key.pem'), await exportPrivateKeyPem((await generateKeyPair()).privateKey));
    await expect(startTestCa(['--jwks', tokens.jwksFile, '--cacerts', d.dir])).rejects.toMatchObject({ code: 'CA_CONFIG', message: expect.stringMatching(/does not belong/) });
  });
});

async function certFromCa(namespace: string, serviceAccount: string): Promise<{ keyPem: string; chainPem: string }> {
  const { keys, csr } = await csrFor(`spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`);
  const chain = (await ask({ csr, token: await tokens.mint({ namespace, serviceAccount }) })) as string[];
  return { keyPem: await exportPrivateKeyPem(keys.privateKey), chainPem: joinPem(chain) };
}

function tempDirFor(name: string): string {
  const d = tempDir(`tsmesh-ca-${name}-`);
  cleanups.push(d.cleanup);
  return d.dir;
}
