/** ADS over TLS (the 15012 port): a client that trusts the control plane's certificate gets config; one that does not, does not. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, formatNodeId, TypeUrl } from '@tsmesh/xds';
import { startControlPlane, waitFor, type Running } from './helpers';

describe('ADS over TLS', () => {
  let cp: Running;
  let certDir: string;
  let port: number;
  const clients: AdsClient[] = [];

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'tsmesh-cp-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=istiod',
      '-addext', 'subjectAltName=DNS:istiod.istio-system.svc,IP:127.0.0.1',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cp = await startControlPlane(['base.yaml']);
    port = await cp.discovery.listen('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{
      cert_chain: readFileSync(join(certDir, 'cert.pem')), private_key: readFileSync(join(certDir, 'key.pem')),
    }], false));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  it('serves a client that verifies the server certificate', async () => {
    const node = { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' }) };
    let names: string[] = [];
    const ok = new AdsClient({ server: `127.0.0.1:${port}`, node, credentials: grpc.credentials.createSsl(readFileSync(join(certDir, 'cert.pem'))) });
    clients.push(ok);
    ok.watch(TypeUrl.Listener, '*', (u) => { names = u.resources.map((r) => r.name); });
    ok.start();
    await waitFor(() => names.length > 0, 5000, 'LDS over TLS');
    expect(names).toContain('virtualInbound');

    let got = false;
    const untrusted = new AdsClient({ server: `127.0.0.1:${port}`, node: { id: `${node.id}x` }, credentials: grpc.credentials.createSsl(), backoff: { initialMs: 50, maxMs: 100 } });
    clients.push(untrusted);
    untrusted.watch(TypeUrl.Listener, '*', () => { got = true; });
    untrusted.start();
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toBe(false);
  });
});

describe('config dump of a gateway', () => {
  it('serves the credential as SDS but redacts the private key in the dump', async () => {
    const cp = await startControlPlane(['base.yaml', 'gateway-tls-simple.yaml']);
    const id = formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' });
    const client = new AdsClient({ server: `127.0.0.1:${cp.xdsPort}`, node: { id } });
    try {
      let secrets: { name: string; message: { tls_certificate?: { private_key?: { inline_string?: string } } } }[] = [];
      client.watch(TypeUrl.Secret, ['kubernetes://todo-credential'], (u) => { secrets = u.resources as never; });
      client.start();
      await waitFor(() => secrets.length > 0, 5000, 'SDS');
      expect(secrets[0].message.tls_certificate?.private_key?.inline_string).toContain('PRIVATE KEY');
      const dump = await (await fetch(`http://127.0.0.1:${cp.monitoringPort}/debug/config_dump?proxyID=${encodeURIComponent(id)}`)).json() as { resources: { Secret: { name: string; tls_certificate: { private_key: unknown } }[] } };
      expect(dump.resources.Secret.map((x) => [x.name, x.tls_certificate.private_key])).toEqual([['kubernetes://todo-credential', '[redacted]']]);
    } finally {
      client.close();
      await cp.close();
    }
  });
});
