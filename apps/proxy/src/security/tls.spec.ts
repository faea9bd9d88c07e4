import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCa, createWorkloadCert, exportPrivateKeyPem, generateKeyPair, issueLeafCertificate, parseCertificate, type Issuer, type WorkloadCert } from '@tsmesh/certs';
import { downstreamTlsContext, ExtensionTypeUrl, pack, sdsCommonTlsContext, unpack, upstreamTlsContext } from '@tsmesh/xds';
import { SecretStore, SDS_DEFAULT, SDS_ROOTCA, compileSecret } from './secrets';
import { DownstreamTls, UpstreamTls } from './tls-context';
import { inspectClientHello, parseClientHello } from './client-hello';
import { inboundDecision, type MtlsMode } from './inbound';
import { peerIdentityOf } from './peer';
import { PeerIdentityError } from './errors';

const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/callme';
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/caller';

let root: Issuer;
let other: Issuer;
let serverCert: WorkloadCert;
let clientCert: WorkloadCert;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tls-'));
const servers: net.Server[] = [];

function storeWith(c: WorkloadCert): SecretStore {
  const s = new SecretStore();
  s.set(SDS_DEFAULT, { kind: 'tls_certificate', chainPem: c.chainPem, keyPem: c.keyPem });
  s.set(SDS_ROOTCA, { kind: 'validation_context', trustedCaPem: c.rootPem, sans: [] });
  return s;
}

/** The decoded UpstreamTlsContext the control plane sends for ISTIO_MUTUAL. */
function istioMutual(store: SecretStore, sans: string[]): UpstreamTls {
  const msg = upstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ['istio-peer-exchange', 'istio'], spiffeIds: sans }), 'outbound_.8091_._.callme.shop.svc.cluster.local');
  return new UpstreamTls(store, unpack(pack(ExtensionTypeUrl.UpstreamTlsContext, msg)));
}

/** The decoded DownstreamTlsContext of a sidecar's inbound mTLS chain. */
function inboundTls(store: SecretStore): DownstreamTls {
  const msg = downstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ['h2', 'http/1.1'] }), true);
  return new DownstreamTls(store, unpack(pack(ExtensionTypeUrl.DownstreamTlsContext, msg)));
}

/**
 * An inbound port with a PeerAuthentication mode: inspects the first bytes, terminates mesh mTLS
 * or passes plaintext, and answers one line: `tls <peer>` or `plain`.
 */
async function inboundServer(mode: MtlsMode, ds: DownstreamTls): Promise<number> {
  const srv = net.createServer(async (raw) => {
    raw.on('error', () => {});
    const { facts } = await inspectClientHello(raw, 2000);
    const d = inboundDecision(mode, facts);
    if (d === 'refuse') {
      raw.destroy();
      return;
    }
    if (d === 'plaintext') {
      raw.once('data', () => raw.end('plain\n'));
      return;
    }
    const s = ds.wrap(raw);
    s.on('error', () => {});
    s.once('secure', () => {
      if (s.destroyed) return;
      s.once('data', () => s.end(`tls ${peerIdentityOf(s)?.principal} ${s.getProtocol()} ${s.alpnProtocol}\n`));
    });
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as net.AddressInfo).port;
}

function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
  });
}

async function mtlsRequest(up: UpstreamTls, port: number): Promise<string> {
  const s = await up.connect({ host: '127.0.0.1', port, appProtocols: ['http/1.1'] });
  const all = readAll(s);
  s.write('hello\n');
  return all;
}

beforeAll(async () => {
  root = await createRootCa();
  other = await createRootCa();
  serverCert = await createWorkloadCert(root, { identity: SERVER_ID });
  clientCert = await createWorkloadCert(root, { identity: CLIENT_ID });
});
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('mesh mTLS between two endpoints', () => {
  it('handshakes with TLS 1.3 and Istio ALPN, each side seeing the other SPIFFE ID', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    const up = istioMutual(storeWith(clientCert), [SERVER_ID]);
    const s = await up.connect({ host: '127.0.0.1', port, appProtocols: ['http/1.1'] });
    expect(s.getProtocol()).toBe('TLSv1.3');
    expect(peerIdentityOf(s)?.principal).toBe(SERVER_ID);
    const all = readAll(s);
    s.write('hi\n');
    expect(await all).toBe(`tls ${CLIENT_ID} TLSv1.3 http/1.1\n`);
  });

  it('refuses a server whose SPIFFE ID is not the one the control plane lists', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    const up = istioMutual(storeWith(clientCert), ['spiffe://cluster.local/ns/shop/sa/other']);
    await expect(up.connect({ host: '127.0.0.1', port })).rejects.toBeInstanceOf(PeerIdentityError);
  });

  it('refuses a server certificate from another root', async () => {
    const foreign = await createWorkloadCert(other, { identity: SERVER_ID });
    const port = await inboundServer('STRICT', inboundTls(storeWith(foreign)));
    const up = istioMutual(storeWith(clientCert), [SERVER_ID]);
    await expect(up.connect({ host: '127.0.0.1', port })).rejects.toThrow(/self-signed|unable to (get|verify)/i);
  });

  it('refuses a client certificate from another root (no byte of the request is served)', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    const foreign = await createWorkloadCert(other, { identity: CLIENT_ID });
    const store = storeWith(foreign);
    store.set(SDS_ROOTCA, { kind: 'validation_context', trustedCaPem: root.rootPem, sans: [] });
    const out = await mtlsRequest(istioMutual(store, [SERVER_ID]), port).catch((e: Error) => `error ${e.message}`);
    expect(out).not.toContain('tls ');
  });

  it('refuses an expired client certificate', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    const old = await createWorkloadCert(root, { identity: CLIENT_ID, ttlSeconds: 3600, now: new Date(Date.now() - 3 * 3600_000) });
    expect(old.notAfter.getTime()).toBeLessThan(Date.now());
    const out = await mtlsRequest(istioMutual(storeWith(old), [SERVER_ID]), port).catch((e: Error) => `error ${e.message}`);
    expect(out).not.toContain('tls ');
  });

  it('refuses an expired server certificate', async () => {
    const old = await createWorkloadCert(root, { identity: SERVER_ID, ttlSeconds: 3600, now: new Date(Date.now() - 3 * 3600_000) });
    const port = await inboundServer('STRICT', inboundTls(storeWith(old)));
    await expect(istioMutual(storeWith(clientCert), [SERVER_ID]).connect({ host: '127.0.0.1', port })).rejects.toThrow(/expired/i);
  });

  it('refuses a client with no certificate when one is required', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    const s = tls.connect({ host: '127.0.0.1', port, ca: root.rootPem, ALPNProtocols: ['istio'], checkServerIdentity: () => undefined });
    s.on('error', () => {});
    const all = readAll(s);
    s.once('secureConnect', () => s.write('hi\n'));
    expect(await all).toBe('');
  });
});

describe('PeerAuthentication modes on one port', () => {
  it('STRICT refuses plaintext', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    const s = net.connect(port, '127.0.0.1');
    const all = readAll(s);
    s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(await all).toBe('');
  });

  it('PERMISSIVE takes plaintext and mesh mTLS on the same port', async () => {
    const port = await inboundServer('PERMISSIVE', inboundTls(storeWith(serverCert)));
    const s = net.connect(port, '127.0.0.1');
    const all = readAll(s);
    s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(await all).toBe('plain\n');
    expect(await mtlsRequest(istioMutual(storeWith(clientCert), [SERVER_ID]), port)).toMatch(new RegExp(`^tls ${CLIENT_ID} `));
  });

  it('DISABLE passes everything as plaintext', async () => {
    const port = await inboundServer('DISABLE', inboundTls(storeWith(serverCert)));
    const s = net.connect(port, '127.0.0.1');
    const all = readAll(s);
    s.write('x');
    expect(await all).toBe('plain\n');
  });
});

describe('rotation', () => {
  it('a new certificate reaches new connections while an open one keeps working', async () => {
    const serverStore = storeWith(serverCert);
    const ds = inboundTls(serverStore);
    const srv = net.createServer((raw) => {
      const s = ds.wrap(raw);
      s.on('error', () => {});
      s.on('data', (d) => s.write(d));
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const up = istioMutual(storeWith(clientCert), [SERVER_ID]);
    const first = await up.connect({ host: '127.0.0.1', port });
    const serial1 = first.getPeerCertificate().serialNumber;
    expect(serial1).toBe(parseCertificate(serverCert.certPem).serialNumber.toUpperCase());

    const next = await createWorkloadCert(root, { identity: SERVER_ID });
    serverStore.set(SDS_DEFAULT, { kind: 'tls_certificate', chainPem: next.chainPem, keyPem: next.keyPem });
    const second = await up.connect({ host: '127.0.0.1', port });
    expect(second.getPeerCertificate().serialNumber).toBe(parseCertificate(next.certPem).serialNumber.toUpperCase());
    expect(serial1).not.toBe(second.getPeerCertificate().serialNumber);

    const echo = new Promise<string>((r) => first.once('data', (d) => r(String(d))));
    first.write('still here');
    expect(await echo).toBe('still here');
    first.destroy();
    second.destroy();
  });
});

describe('TLS inspector', () => {
  it('reads SNI and ALPN from a real ClientHello and puts the bytes back', async () => {
    const got = new Promise<{ facts: unknown; replayed: number }>((resolve) => {
      const srv = net.createServer(async (raw) => {
        const r = await inspectClientHello(raw);
        resolve({ facts: r.facts, replayed: raw.readableLength });
        raw.destroy();
      });
      servers.push(srv);
      srv.listen(0, '127.0.0.1', () => {
        const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'Shop.Example.com', ALPNProtocols: ['istio-peer-exchange', 'h2'] });
        c.on('error', () => {});
      });
    });
    const r = await got;
    expect(r.facts).toEqual({ transport: 'tls', sni: 'shop.example.com', alpn: ['istio-peer-exchange', 'h2'] });
    expect(r.replayed).toBeGreaterThan(100);
  });

  it('tells plaintext from TLS and asks for more on a partial record', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toEqual({ transport: 'raw_buffer', sni: '', alpn: [] });
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x02]))).toBe('more');
  });
});

describe('SDS secrets', () => {
  it('compiles Envoy secrets and rejects what is not PEM, naming the field', () => {
    expect(compileSecret({ name: 'kubernetes://x', type: 'tls_certificate', tls_certificate: { certificate_chain: { specifier: 'inline_string', inline_string: serverCert.chainPem }, private_key: { specifier: 'inline_string', inline_string: serverCert.keyPem } } } as never).kind).toBe('tls_certificate');
    expect(() => compileSecret({ name: 'x', type: 'tls_certificate', tls_certificate: { certificate_chain: { specifier: 'inline_string', inline_string: 'nope' }, private_key: { specifier: 'inline_string', inline_string: serverCert.keyPem } } } as never)).toThrow('tls_certificate.certificate_chain: holds no PEM certificate');
  });

  it('applies a full SDS update and leaves the agent secrets alone', () => {
    const store = storeWith(serverCert);
    const ev: string[] = [];
    store.on('change', (n: string) => ev.push(n));
    const sec = (name: string) => ({ name, message: { name, type: 'validation_context', validation_context: { trusted_ca: { specifier: 'inline_string', inline_string: root.rootPem } } } as never });
    store.applySds([sec('kubernetes://a-cacert'), sec('kubernetes://b-cacert')]);
    store.applySds([sec('kubernetes://b-cacert')]);
    expect(store.names()).toEqual(['ROOTCA', 'default', 'kubernetes://b-cacert']);
    expect(ev).toEqual(['kubernetes://a-cacert', 'kubernetes://b-cacert', 'kubernetes://a-cacert']);
  });
});

describe('openssl as the verifier', () => {
  it('openssl s_client completes mutual TLS 1.3 with the inbound side and verifies its chain', async () => {
    const port = await inboundServer('STRICT', inboundTls(storeWith(serverCert)));
    writeFileSync(join(dir, 'root.pem'), root.rootPem);
    writeFileSync(join(dir, 'client.pem'), clientCert.chainPem);
    writeFileSync(join(dir, 'client.key'), clientCert.keyPem);
    const out = await new Promise<string>((resolve) => {
      const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', join(dir, 'root.pem'), '-cert', join(dir, 'client.pem'), '-key', join(dir, 'client.key'), '-alpn', 'istio-peer-exchange,http/1.1', '-verify_return_error'], { timeout: 15_000 }, (_e, stdout, stderr) => resolve(stdout + stderr));
      child.stdin!.write('hello\n');
      setTimeout(() => child.stdin!.end(), 500);
    });
    expect(out).toContain('Verify return code: 0 (ok)');
    expect(out).toMatch(/TLSv1\.3/);
    expect(out).toContain(`tls ${CLIENT_ID} TLSv1.3 http/1.1`);
  });
});

describe('TLS origination (DestinationRule SIMPLE without credentialName)', () => {
  /** A TLS server for `names` (DNS SANs) signed by `issuer`, answering "ok". */
  async function externalServer(issuer: Issuer, names: string[]): Promise<number> {
    const keys = await generateKeyPair();
    const cert = await issueLeafCertificate(issuer, { publicKey: keys.publicKey, dnsNames: names });
    const srv = tls.createServer({ key: await exportPrivateKeyPem(keys.privateKey), cert }, (s) => s.end('ok\n'));
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return (srv.address() as net.AddressInfo).port;
  }
  /** The UpstreamTlsContext the control plane sends: trust from a file, the SNI as the DNS SAN. */
  function origination(caFile: string, sni: string): UpstreamTls {
    const msg = { sni, common_tls_context: { validation_context: { trusted_ca: { filename: caFile }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: sni } }] } } };
    return new UpstreamTls(new SecretStore(), unpack(pack(ExtensionTypeUrl.UpstreamTlsContext, msg as never)));
  }

  it('verifies the server against the trust file and its name against the SNI', async () => {
    const caFile = join(dir, 'roots.pem');
    writeFileSync(caFile, root.rootPem);
    const port = await externalServer(root, ['*.example.com']);
    const s = await origination(caFile, 'api.example.com').connect({ host: '127.0.0.1', port });
    expect(await readAll(s)).toBe('ok\n');
    await expect(origination(caFile, 'api.example.org').connect({ host: '127.0.0.1', port })).rejects.toThrow();
    const foreign = await externalServer(other, ['api.example.com']);
    await expect(origination(caFile, 'api.example.com').connect({ host: '127.0.0.1', port: foreign })).rejects.toThrow(/self-signed|unable to (get|verify)/i);
  });

  it('NACKs a trust file it cannot read, naming the field', () => {
    expect(() => origination(join(dir, 'missing.pem'), 'api.example.com').connectOptions()).toThrow(/validation_context\.trusted_ca: cannot read ".*missing\.pem": ENOENT/);
  });
});

