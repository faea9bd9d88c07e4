import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createRootCa, createWorkloadCert, parseCertificate, type Issuer, type WorkloadCert } from '@tsmesh/certs';
import { downstreamTlsContext, ExtensionTypeUrl, pack, sdsCommonTlsContext, tlsCertificateSecret, TypeUrl, unpack, validationContextSecret, type Secret__Output } from '@tsmesh/xds';
import { SecretStore } from '../security/secrets';
import { DownstreamTls } from '../security/tls-context';
import { GatewayPort, type GatewayChain } from './port';
import { selectBySni, sniScore } from './sni';

let root: Issuer;
let clientRoot: Issuer;
let certA: WorkloadCert;
let certB: WorkloadCert;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-gw-'));
const closers: (() => void)[] = [];

function sds(...secrets: ReturnType<typeof tlsCertificateSecret>[]): { name: string; message: Secret__Output }[] {
  return secrets.map((s) => ({ name: s.name!, message: unpack<Secret__Output>(pack(TypeUrl.Secret, s)) }));
}

/** A Gateway server's TLS as the control plane emits it: SIMPLE, or MUTUAL with `<credential>-cacert`. */
function serverTls(store: SecretStore, credential: string, mutual: boolean): DownstreamTls {
  const common = sdsCommonTlsContext({ certSecret: `kubernetes://${credential}`, ...(mutual ? { validationSecret: `kubernetes://${credential}-cacert` } : {}), alpn: ['h2', 'http/1.1'], spiffeIds: [] });
  return new DownstreamTls(store, unpack(pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(common, mutual))));
}

/** An HTTP handler answering `<chain> <host>` for TLS-terminated connections. */
function httpHandler(name: string): (s: tls.TLSSocket) => void {
  const srv = http.createServer((req, res) => res.end(`${name} ${req.headers.host}`));
  closers.push(() => srv.close());
  return (s) => srv.emit('connection', s);
}

function get(port: number, host: string, o: { ca?: string; cert?: string; key?: string } = {}): Promise<{ body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: host, headers: { host }, path: '/', ca: o.ca ?? root.rootPem, cert: o.cert, key: o.key, agent: false,
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity(host, cert) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ body, serial: (res.socket as tls.TLSSocket).getPeerCertificate?.().serialNumber ?? '' }));
    });
    req.on('socket', (s) => s.on('secureConnect', () => void 0));
    req.on('error', reject);
  });
}

beforeAll(async () => {
  root = await createRootCa({ subject: 'CN=gateway test root' });
  clientRoot = await createRootCa({ subject: 'CN=client root' });
  certA = await createWorkloadCert(root, { dnsNames: ['a.example.com'] });
  certB = await createWorkloadCert(root, { dnsNames: ['*.b.example.com'] });
});
afterAll(() => {
  for (const c of closers) c();
  rmSync(dir, { recursive: true, force: true });
});

describe('SNI matching', () => {
  it('exact beats wildcard beats catch-all; case-insensitive', () => {
    expect(sniScore(['a.example.com'], 'A.Example.com')).toBeGreaterThan(sniScore(['*.example.com'], 'a.example.com'));
    expect(sniScore(['*.example.com'], 'x.y.example.com')).toBeGreaterThan(0);
    expect(sniScore(['*.example.com'], 'example.com')).toBe(-1);
    const chains = [{ serverNames: [], n: 'any' }, { serverNames: ['*.example.com'], n: 'wild' }, { serverNames: ['*.shop.example.com'], n: 'longer' }, { serverNames: ['a.example.com'], n: 'exact' }];
    expect(selectBySni(chains, 'a.example.com')?.n).toBe('exact');
    expect(selectBySni(chains, 'x.shop.example.com')?.n).toBe('longer');
    expect(selectBySni(chains, 'z.example.com')?.n).toBe('wild');
    expect(selectBySni(chains, 'other.org')?.n).toBe('any');
    expect(selectBySni(chains, '')?.n).toBe('any');
  });
});

describe('gateway port', () => {
  let store: SecretStore;
  let port: number;
  let gw: GatewayPort;
  let backendPort: number;

  beforeAll(async () => {
    store = new SecretStore();
    const certM = await createWorkloadCert(root, { dnsNames: ['m.example.com'] });
    const clientCa = validationContextSecret('kubernetes://m-cacert', clientRoot.rootPem);
    store.applySds(sds(tlsCertificateSecret('kubernetes://a', certA.chainPem, certA.keyPem), tlsCertificateSecret('kubernetes://b', certB.chainPem, certB.keyPem), tlsCertificateSecret('kubernetes://m', certM.chainPem, certM.keyPem), clientCa));
    // A TLS backend for PASSTHROUGH, with its own certificate.
    const backendCert = await createWorkloadCert(root, { dnsNames: ['c.example.com'] });
    const backend = tls.createServer({ key: backendCert.keyPem, cert: backendCert.chainPem }, (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbackend'));
    closers.push(() => backend.close());
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    backendPort = (backend.address() as AddressInfo).port;
    const chains: GatewayChain[] = [
      { kind: 'terminate', name: 'a', serverNames: ['a.example.com'], tls: serverTls(store, 'a', false), onSecure: httpHandler('a') },
      { kind: 'terminate', name: 'b', serverNames: ['*.b.example.com'], tls: serverTls(store, 'b', false), onSecure: httpHandler('b') },
      { kind: 'terminate', name: 'm', serverNames: ['m.example.com'], tls: serverTls(store, 'm', true), onSecure: httpHandler('m') },
      { kind: 'passthrough', name: 'c', serverNames: ['c.example.com'], upstream: () => ({ host: '127.0.0.1', port: backendPort }) },
    ];
    gw = new GatewayPort(chains);
    closers.push(() => gw.close());
    port = await gw.listen(0, '127.0.0.1');
  });

  it('several hosts and certificates on one port, chosen by SNI, checked by a verifying client', async () => {
    expect((await get(port, 'a.example.com')).body).toBe('a a.example.com');
    expect((await get(port, 'shop.b.example.com')).body).toBe('b shop.b.example.com');
    // a client that expects a.example.com but is handed b's certificate refuses it
    await expect(get(port, 'unknown.example.com')).rejects.toThrow();
  });

  it('curl verifies the chain and the name through SNI', async () => {
    writeFileSync(join(dir, 'root.pem'), root.rootPem);
    const out = await new Promise<string>((resolve) => execFile('curl', ['-sS', '--http1.1', '--cacert', join(dir, 'root.pem'), '--resolve', `a.example.com:${port}:127.0.0.1`, `https://a.example.com:${port}/`], { timeout: 15_000 }, (e, so, se) => resolve(e ? `error ${se}` : so)));
    expect(out).toBe(`a a.example.com:${port}`);
  });

  it('PASSTHROUGH routes by SNI without terminating: the client sees the backend certificate', async () => {
    const r = await get(port, 'c.example.com');
    expect(r.body).toBe('backend');
    expect(gw.stats.passthrough).toBeGreaterThan(0);
  });

  it('MUTUAL requires a client certificate from the credential CA', async () => {
    await expect(get(port, 'm.example.com')).rejects.toThrow();
    const wrong = await createWorkloadCert(root, { dnsNames: ['client'] });
    await expect(get(port, 'm.example.com', { cert: wrong.chainPem, key: wrong.keyPem })).rejects.toThrow();
    const client = await createWorkloadCert(clientRoot, { dnsNames: ['client'] });
    expect((await get(port, 'm.example.com', { cert: client.chainPem, key: client.keyPem })).body).toBe('m m.example.com');
  });

  it('a rotated Secret is served to the next connection, with no restart', async () => {
    const before = await get(port, 'a.example.com');
    expect(before.serial.toLowerCase()).toBe(parseCertificate(certA.certPem).serialNumber.toLowerCase());
    const next = await createWorkloadCert(root, { dnsNames: ['a.example.com'] });
    store.applySds(sds(tlsCertificateSecret('kubernetes://a', next.chainPem, next.keyPem), tlsCertificateSecret('kubernetes://b', certB.chainPem, certB.keyPem), tlsCertificateSecret('kubernetes://m', store.get('kubernetes://m')!.value.kind === 'tls_certificate' ? (store.get('kubernetes://m')!.value as { chainPem: string }).chainPem : '', (store.get('kubernetes://m')!.value as { keyPem: string }).keyPem), validationContextSecret('kubernetes://m-cacert', clientRoot.rootPem)));
    const after = await get(port, 'a.example.com');
    expect(after.body).toBe('a a.example.com');
    expect(after.serial.toLowerCase()).toBe(parseCertificate(next.certPem).serialNumber.toLowerCase());
  });
});
