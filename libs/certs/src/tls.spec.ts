import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createRootCa, issueIntermediateCa } from './issue';
import type { Issuer } from './issuer';
import { createWorkloadCert, type WorkloadCert } from './workload';
import { peerSpiffeId } from './spiffe';

const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/callme';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/caller';
let root: Issuer;
let server: WorkloadCert;
let client: WorkloadCert;
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

beforeAll(async () => {
  root = await createRootCa();
  const inter = await issueIntermediateCa(root);
  server = await createWorkloadCert(inter, { identity: SERVER_ID });
  client = await createWorkloadCert(inter, { identity: CLIENT_ID });
});

/** Starts a mutual-TLS server on loopback that answers with the client's SPIFFE ID. */
async function startServer(cert: WorkloadCert, trust: string, accepted: string[] = []): Promise<number> {
  const srv = tls.createServer({ key: cert.keyPem, cert: cert.chainPem, ca: trust, requestCert: true, rejectUnauthorized: true }, (s) => {
    accepted.push(String(peerSpiffeId(s.getPeerCertificate())));
    s.end(`hello ${peerSpiffeId(s.getPeerCertificate())}`);
  });
  srv.on('tlsClientError', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  return (srv.address() as AddressInfo).port;
}

/** Connects with `cert`, checking the server's SPIFFE ID instead of a host name. */
function connect(port: number, cert: WorkloadCert, trust: string, expectServer: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1', port, key: cert.keyPem, cert: cert.chainPem, ca: trust,
      checkServerIdentity: (_host, peer) => (peerSpiffeId(peer) === expectServer ? undefined : new Error(`server is ${peerSpiffeId(peer)}, want ${expectServer}`)),
    });
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

describe('mutual TLS with SPIFFE identities', () => {
  it('completes a handshake where each side sees the other SPIFFE ID', async () => {
    const port = await startServer(server, root.rootPem);
    expect(await connect(port, client, root.rootPem, SERVER_ID)).toBe(`hello ${CLIENT_ID}`);
  });

  it('fails when the server is not the expected identity', async () => {
    const port = await startServer(server, root.rootPem);
    await expect(connect(port, client, root.rootPem, 'spiffe://cluster.local/ns/default/sa/other')).rejects.toThrow(/want spiffe/);
  });

  it('refuses a client whose certificate comes from another root', async () => {
    const other = await createRootCa();
    const stranger = await createWorkloadCert(other, { identity: CLIENT_ID });
    const accepted: string[] = [];
    const port = await startServer(server, root.rootPem, accepted);
    // TLS 1.3: the client may finish its side before the server's alert arrives; either way no data flows.
    const answer = await connect(port, stranger, root.rootPem, SERVER_ID).catch((err: Error) => err.message);
    expect(answer).not.toContain('hello');
    expect(accepted).toEqual([]);
    // the same server accepts the right client
    await connect(port, client, root.rootPem, SERVER_ID);
    expect(accepted).toEqual([CLIENT_ID]);
  });

  it('refuses a server whose certificate comes from another root', async () => {
    const other = await createRootCa();
    const impostor = await createWorkloadCert(other, { identity: SERVER_ID });
    const port = await startServer(impostor, root.rootPem);
    await expect(connect(port, client, root.rootPem, SERVER_ID)).rejects.toThrow(/unable to verify|self.signed|certificate/i);
  });
});
