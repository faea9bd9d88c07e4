import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { caServiceDefinition, CaClient } from './service';
import { fetchWorkloadCert } from './fetch';
import type { CertificateRequest, CertificateResponse } from './messages';
import { createRootCa, signCsr } from '../issue';
import type { Issuer } from '../issuer';
import { createWorkloadCert } from '../workload';
import { verifyChain } from '../verify';
import type { CertsError } from '../errors';

// A minimal CA over real gRPC/TLS: the token is the SPIFFE ID itself (test-only trust).
let root: Issuer;
let server: grpc.Server;
let port: number;
const seen: { token?: string; ttl: number }[] = [];

beforeAll(async () => {
  root = await createRootCa();
  const serving = await createWorkloadCert(root, { dnsNames: ['ca.test'] });
  server = new grpc.Server();
  server.addService(caServiceDefinition(), {
    CreateCertificate: (call: grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>, cb: grpc.sendUnaryData<CertificateResponse>) => {
      const token = String(call.metadata.get('authorization')[0] ?? '').replace(/^Bearer /, '');
      seen.push({ token, ttl: Number(call.request.validity_duration) });
      signCsr(root, call.request.csr, { spiffeId: token, ttlSeconds: Number(call.request.validity_duration) || 3600 }).then(
        (leaf) => cb(null, { cert_chain: [leaf, ...root.chain] }),
        (err: CertsError) => cb({ code: err.grpcCode, details: err.message }),
      );
    },
  });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.chainPem), private_key: Buffer.from(serving.keyPem) }], false);
  port = await new Promise((r, j) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? j(e) : r(p))));
});
afterAll(() => server.forceShutdown());

describe('CaClient and fetchWorkloadCert over real gRPC/TLS', () => {
  it('fetches a workload certificate with its key, chain and root', async () => {
    const client = new CaClient({ address: `127.0.0.1:${port}`, rootPem: root.rootPem, serverName: 'ca.test' });
    try {
      const id = 'spiffe://cluster.local/ns/default/sa/callme';
      const wl = await fetchWorkloadCert(client, { token: id, spiffeId: id, ttlSeconds: 600 });
      expect(wl.spiffeId).toBe(id);
      expect(wl.rootPem).toBe(root.rootPem);
      expect(seen.at(-1)).toEqual({ token: id, ttl: 600 });
      await verifyChain(wl.chainPem, wl.rootPem);
    } finally {
      client.close();
    }
  });

  it('passes the CA error status through', async () => {
    const client = new CaClient({ address: `127.0.0.1:${port}`, rootPem: root.rootPem, serverName: 'ca.test' });
    try {
      await expect(fetchWorkloadCert(client, { token: 'spiffe://cluster.local/ns/a/sa/b', spiffeId: 'spiffe://cluster.local/ns/a/sa/c' })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    } finally {
      client.close();
    }
  });

  it('refuses to talk to a CA whose serving certificate does not chain to the given root', async () => {
    const other = await createRootCa();
    const client = new CaClient({ address: `127.0.0.1:${port}`, rootPem: other.rootPem, serverName: 'ca.test' });
    try {
      await expect(client.createCertificate({ csr: 'x', token: 't', deadlineMs: 3000 })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      client.close();
    }
  });
});
