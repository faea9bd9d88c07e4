import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCa, issueIntermediateCa, issueLeafCertificate, signCsr } from './issue';
import { loadIssuer, issuerToPem, type Issuer } from './issuer';
import { createCsr, parseCsr } from './csr';
import { generateKeyPair, importPrivateKeyPem, exportPrivateKeyPem } from './keys';
import { parseCertificate } from './certificate';
import { verifyChain } from './verify';
import { createWorkloadCert } from './workload';
import { joinPem } from './pem';

const ID = 'spiffe://cluster.local/ns/default/sa/callme';
let dir: string;
let root: Issuer;
let inter: Issuer;

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsmesh-certs-'));
  root = await createRootCa();
  inter = await issueIntermediateCa(root);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('issuing', () => {
  it('issues a root → intermediate → workload chain that openssl verifies', async () => {
    const wl = await createWorkloadCert(inter, { identity: { namespace: 'default', serviceAccount: 'callme' } });
    writeFileSync(join(dir, 'root.pem'), root.rootPem);
    writeFileSync(join(dir, 'inter.pem'), inter.cert.pem);
    writeFileSync(join(dir, 'leaf.pem'), wl.certPem);
    expect(openssl('verify', '-CAfile', 'root.pem', '-untrusted', 'inter.pem', '-purpose', 'sslclient', 'leaf.pem')).toContain('leaf.pem: OK');
    expect(openssl('verify', '-CAfile', 'root.pem', '-untrusted', 'inter.pem', '-purpose', 'sslserver', 'leaf.pem')).toContain('leaf.pem: OK');
    const text = openssl('x509', '-in', 'leaf.pem', '-noout', '-text');
    expect(text).toContain(`URI:${ID}`);
    expect(text).toMatch(/X509v3 Subject Alternative Name: critical/);
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(text).toContain('CA:FALSE');
    expect(text).toContain('ASN1 OID: prime256v1');
    // the chain is leaf first, root last
    const path = await verifyChain(wl.chainPem, wl.rootPem);
    expect(path.map((c) => c.isCa)).toEqual([false, true, true]);
    expect(path[0].spiffeId).toBe(ID);
  });

  it('parses the SPIFFE ID, validity and CA flag', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const wl = await createWorkloadCert(root, { identity: ID, ttlSeconds: 3600, now });
    const info = parseCertificate(wl.certPem);
    expect(info.spiffeId).toBe(ID);
    expect(info.notAfter.toISOString()).toBe('2026-06-01T01:00:00.000Z');
    expect(info.notBefore.toISOString()).toBe('2026-05-31T23:59:00.000Z');
    expect(info.isCa).toBe(false);
    expect(info.subject).toBe('');
    expect(parseCertificate(root.rootPem).isCa).toBe(true);
  });

  it('cuts a leaf lifetime to the issuer expiry', async () => {
    const shortRoot = await createRootCa({ ttlSeconds: 600 });
    const wl = await createWorkloadCert(shortRoot, { identity: ID, ttlSeconds: 86400 });
    expect(wl.notAfter.getTime()).toBe(shortRoot.cert.notAfter.getTime());
  });

  it('issues a DNS serving certificate', async () => {
    const sv = await createWorkloadCert(root, { dnsNames: ['istio-ca.istio-system.svc', 'localhost'], ipAddresses: ['127.0.0.1'] });
    const info = parseCertificate(sv.certPem);
    expect(info.dnsNames).toEqual(['istio-ca.istio-system.svc', 'localhost']);
    expect(info.ipAddresses).toEqual(['127.0.0.1']);
    expect(info.spiffeId).toBeNull();
  });
});

describe('verifyChain', () => {
  it('refuses a chain from another root', async () => {
    const other = await createRootCa();
    const wl = await createWorkloadCert(other, { identity: ID });
    await expect(verifyChain(wl.chainPem, root.rootPem)).rejects.toThrow(/chain ends at root "O=cluster.local", which is not a trusted root/);
    await expect(verifyChain(wl.certPem, root.rootPem)).rejects.toThrow(/no trusted issuer found for "spiffe:\/\/cluster.local\/ns\/default\/sa\/callme"/);
  });

  it('refuses an expired leaf and a leaf used as an issuer', async () => {
    const wl = await createWorkloadCert(root, { identity: ID, ttlSeconds: 60 });
    await expect(verifyChain(wl.chainPem, root.rootPem, { at: new Date(Date.now() + 3600_000) })).rejects.toMatchObject({ code: 'CERTS_CHAIN_INVALID' });
    const leafKeys = await generateKeyPair();
    const fakeIssuer = await loadIssuer({ certPem: root.rootPem, keyPem: await exportPrivateKeyPem(root.keys.privateKey) });
    const leafAsCa = { ...fakeIssuer, keys: leafKeys };
    const forged = await issueLeafCertificate(leafAsCa, { publicKey: leafKeys.publicKey, spiffeId: ID });
    await expect(verifyChain(forged, root.rootPem)).rejects.toThrow(/no trusted issuer/);
  });
});

describe('CSRs', () => {
  it('creates a CSR with the SPIFFE URI SAN that openssl reads', async () => {
    const keys = await generateKeyPair();
    const csr = await createCsr(keys, { spiffeId: ID });
    writeFileSync(join(dir, 'req.csr'), csr);
    const text = openssl('req', '-in', 'req.csr', '-noout', '-text', '-verify');
    expect(text).toContain(`URI:${ID}`);
    const parsed = await parseCsr(csr);
    expect(parsed.uris).toEqual([ID]);
    expect(parsed.key).toEqual({ type: 'ec', curve: 'P-256' });
  });

  it('signs a CSR with the caller identity, and refuses one asking for another', async () => {
    const keys = await generateKeyPair();
    const cert = await signCsr(inter, await createCsr(keys, { spiffeId: ID }), { spiffeId: ID, ttlSeconds: 600 });
    expect(parseCertificate(cert).spiffeId).toBe(ID);
    const other = await createCsr(keys, { spiffeId: 'spiffe://cluster.local/ns/kube-system/sa/admin' });
    await expect(signCsr(inter, other, { spiffeId: ID })).rejects.toMatchObject({ code: 'CERTS_IDENTITY_MISMATCH', grpcCode: 7 });
    const dns = await createCsr(keys, { dnsNames: ['kubernetes.default.svc'] });
    await expect(signCsr(inter, dns, { spiffeId: ID })).rejects.toMatchObject({ code: 'CERTS_IDENTITY_MISMATCH' });
  });

  it('accepts an RSA 2048 CSR made by openssl and refuses RSA 1024 and garbage', async () => {
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa2048.key', '-subj', '/', '-addext', `subjectAltName=URI:${ID}`, '-out', 'rsa2048.csr');
    const cert = await signCsr(root, readFileSync(join(dir, 'rsa2048.csr'), 'utf8'), { spiffeId: ID });
    expect(parseCertificate(cert).key).toEqual({ type: 'rsa', bits: 2048 });
    openssl('req', '-new', '-newkey', 'rsa:1024', '-nodes', '-keyout', 'rsa1024.key', '-subj', '/', '-out', 'rsa1024.csr');
    await expect(signCsr(root, readFileSync(join(dir, 'rsa1024.csr'), 'utf8'), { spiffeId: ID })).rejects.toMatchObject({ code: 'CERTS_UNSUPPORTED_KEY' });
    await expect(parseCsr('not a csr')).rejects.toMatchObject({ code: 'CERTS_INVALID_CSR', grpcCode: 3 });
    await expect(parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')).rejects.toMatchObject({ code: 'CERTS_INVALID_CSR' });
  });

  it('refuses a key on a curve other than P-256/P-384', async () => {
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-nodes', '-keyout', 'k1.key', '-subj', '/', '-out', 'k1.csr');
    await expect(parseCsr(readFileSync(join(dir, 'k1.csr'), 'utf8'))).rejects.toThrow(/EC curve secp256k1 is not accepted/);
  });

  it('refuses a CSR whose signature does not match its key', async () => {
    const keys = await generateKeyPair();
    const pem = await createCsr(keys, { spiffeId: ID });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff; // flip a byte inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(parseCsr(tampered)).rejects.toMatchObject({ code: 'CERTS_INVALID_CSR' });
  });
});

describe('loading CA material', () => {
  it('loads an openssl-made RSA CA in the cacerts layout and issues verifiable leaves', async () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ossl-root.key', '-out', 'ossl-root.pem', '-days', '30', '-subj', '/O=Example Org/CN=Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('genrsa', '-traditional', '-out', 'ossl-ca.key', '2048');
    openssl('req', '-new', '-key', 'ossl-ca.key', '-subj', '/O=Example Org/CN=Intermediate', '-out', 'ossl-ca.csr');
    writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    openssl('x509', '-req', '-in', 'ossl-ca.csr', '-CA', 'ossl-root.pem', '-CAkey', 'ossl-root.key', '-CAcreateserial', '-days', '20', '-extfile', 'ext.cnf', '-out', 'ossl-ca.pem');
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    expect(read('ossl-ca.key')).toContain('BEGIN RSA PRIVATE KEY');
    const issuer = await loadIssuer({ certPem: read('ossl-ca.pem'), keyPem: read('ossl-ca.key'), chainPem: joinPem([read('ossl-ca.pem'), read('ossl-root.pem')]), rootPem: read('ossl-root.pem') });
    expect(issuer.chain).toHaveLength(2);
    const wl = await createWorkloadCert(issuer, { identity: ID });
    writeFileSync(join(dir, 'rsa-chain.pem'), wl.chainPem);
    writeFileSync(join(dir, 'rsa-leaf.pem'), wl.certPem);
    expect(openssl('verify', '-CAfile', 'ossl-root.pem', '-untrusted', 'rsa-chain.pem', 'rsa-leaf.pem')).toContain('OK');
    const files = await issuerToPem(issuer);
    expect((await importPrivateKeyPem(files['ca-key.pem'])).privateKey.algorithm.name).toBe('RSASSA-PKCS1-v1_5');
  });

  it('refuses a key that does not belong to the certificate, and a non-CA certificate', async () => {
    const other = await generateKeyPair();
    await expect(loadIssuer({ certPem: root.rootPem, keyPem: await exportPrivateKeyPem(other.privateKey) })).rejects.toMatchObject({ code: 'CERTS_CA_MATERIAL' });
    const wl = await createWorkloadCert(root, { identity: ID });
    await expect(loadIssuer({ certPem: wl.certPem, keyPem: wl.keyPem })).rejects.toThrow(/is not a CA/);
  });
});
