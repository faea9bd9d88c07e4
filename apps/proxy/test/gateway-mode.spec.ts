/**
 * Gateway mode in the real proxy (`router`), configured only over ADS the way the control plane
 * translates Gateway servers: an HTTPS port with two hosts and their own certificates chosen by
 * SNI (SIMPLE, `kubernetes://<credentialName>` over SDS), a MUTUAL host, a PASSTHROUGH host routed
 * by SNI to a TLS backend, and an HTTP port with `httpsRedirect`. A Secret update pushed over
 * SDS is served on the next handshake, with no restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createRootCa, createWorkloadCert, parseCertificate, type Issuer, type WorkloadCert } from '@tsmesh/certs';
import {
  cluster, clusterLoadAssignment, downstreamTlsContext, ExtensionTypeUrl, httpConnectionManager, listener, pack, route, routeConfiguration, sdsCommonTlsContext,
  Snapshot, tcpProxy, tlsCertificateSecret, TypeUrl, validationContextSecret, virtualHost,
} from '@tsmesh/xds';
import { Proxy } from '../src/agent/proxy';
import { bootstrap } from '../src/agent/bootstrap';
import { ControlPlane, listenerPort, until, upstream, type Upstream } from './harness';

const GW_NODE = 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local';
let root: Issuer;
let clientRoot: Issuer;
let certA: WorkloadCert;
let certB: WorkloadCert;
let certM: WorkloadCert;
let cp: ControlPlane;
let gw: Proxy;
let app: Upstream;
let backendPort = 0;
let httpsPort = 0;
let httpPort = 0;
let version = 0;
const closers: (() => void)[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-gw-'));

function serverTls(cred: string, mutual: boolean) {
  const common = sdsCommonTlsContext({ certSecret: `kubernetes://${cred}`, ...(mutual ? { validationSecret: `kubernetes://${cred}-cacert` } : {}), alpn: ['h2', 'http/1.1'], spiffeIds: [] });
  return { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(common, mutual)) };
}

function push(a: WorkloadCert): void {
  const hcm = (rds: string) => httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_8443', rdsName: rds, useRemoteAddress: true });
  const tlsInspector = { name: 'envoy.filters.listener.tls_inspector', typed_config: pack(ExtensionTypeUrl.TlsInspector, {}) };
  const vh = (name: string, host: string) => virtualHost(name, [host, `${host}:443`], [route({ name: 'to-app', match: { prefix: '/' }, cluster: 'outbound|8080||app.default.svc.cluster.local' })]);
  const redirectVh = { ...virtualHost('shop.example.com:80', ['shop.example.com', 'shop.example.com:80'], [{ name: 'https_redirect', match: { prefix: '/' }, redirect: { https_redirect: true } }]), require_tls: 'ALL' as const };
  cp.cache.setSnapshot(GW_NODE, Snapshot.create(`v${++version}`, {
    [TypeUrl.Listener]: [
      listener({
        name: '0.0.0.0_8443', address: '127.0.0.1', port: httpsPort, trafficDirection: 'OUTBOUND', listenerFilters: [tlsInspector],
        filterChains: [
          { name: 'https.443.a', filter_chain_match: { server_names: ['a.example.com'] }, transport_socket: serverTls('a', false), filters: [hcm('https.443.a')] },
          { name: 'https.443.b', filter_chain_match: { server_names: ['*.b.example.com'] }, transport_socket: serverTls('b', false), filters: [hcm('https.443.b')] },
          { name: 'https.443.m', filter_chain_match: { server_names: ['m.example.com'] }, transport_socket: serverTls('m', true), filters: [hcm('https.443.m')] },
          { name: 'passthrough.c', filter_chain_match: { server_names: ['c.example.com'] }, filters: [tcpProxy('outbound_0.0.0.0_8443', 'outbound|8443||backend.default.svc.cluster.local')] },
        ],
      }),
      listener({ name: '0.0.0.0_8080', address: '127.0.0.1', port: httpPort, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_8080', rdsName: 'http.80', useRemoteAddress: true })] }] }),
    ],
    [TypeUrl.RouteConfiguration]: [
      routeConfiguration('https.443.a', [vh('a.example.com:443', 'a.example.com')]),
      routeConfiguration('https.443.b', [vh('shop.b.example.com:443', '*.b.example.com')]),
      routeConfiguration('https.443.m', [vh('m.example.com:443', 'm.example.com')]),
      routeConfiguration('http.80', [redirectVh as never]),
    ],
    [TypeUrl.Cluster]: [cluster({ name: 'outbound|8080||app.default.svc.cluster.local' }), cluster({ name: 'outbound|8443||backend.default.svc.cluster.local' })],
    [TypeUrl.ClusterLoadAssignment]: [
      clusterLoadAssignment('outbound|8080||app.default.svc.cluster.local', [{ address: '127.0.0.1', port: app.port }]),
      clusterLoadAssignment('outbound|8443||backend.default.svc.cluster.local', [{ address: '127.0.0.1', port: backendPort }]),
    ],
    [TypeUrl.Secret]: [
      tlsCertificateSecret('kubernetes://a', a.chainPem, a.keyPem),
      tlsCertificateSecret('kubernetes://b', certB.chainPem, certB.keyPem),
      tlsCertificateSecret('kubernetes://m', certM.chainPem, certM.keyPem),
      validationContextSecret('kubernetes://m-cacert', clientRoot.rootPem),
    ],
  }));
}

function get(host: string, o: { cert?: WorkloadCert; path?: string } = {}): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({
      host: '127.0.0.1', port: httpsPort, servername: host, path: o.path ?? '/', headers: { host }, ca: root.rootPem, agent: false,
      ...(o.cert ? { cert: o.cert.chainPem, key: o.cert.keyPem } : {}), checkServerIdentity: (_h, c) => tls.checkServerIdentity(host, c),
    }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial: (res.socket as tls.TLSSocket).getPeerCertificate().serialNumber ?? '' }));
    });
    req.on('error', reject);
  });
}

beforeAll(async () => {
  root = await createRootCa({ subject: 'CN=gateway root' });
  clientRoot = await createRootCa({ subject: 'CN=client root' });
  [certA, certB, certM] = await Promise.all([
    createWorkloadCert(root, { dnsNames: ['a.example.com'] }), createWorkloadCert(root, { dnsNames: ['*.b.example.com'] }), createWorkloadCert(root, { dnsNames: ['m.example.com'] }),
  ]);
  const backendCert = await createWorkloadCert(root, { dnsNames: ['c.example.com'] });
  const backend = tls.createServer({ key: backendCert.keyPem, cert: backendCert.chainPem }, (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbackend'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  closers.push(() => backend.close());
  backendPort = (backend.address() as AddressInfo).port;
  app = await upstream('app');
  // fixed ports for the gateway listeners, found free first
  httpsPort = await listenerPort();
  httpPort = await listenerPort();
  cp = new ControlPlane();
  await cp.start();
  push(certA);
  const boot = bootstrap('router', {
    podName: 'istio-ingressgateway-0', podNamespace: 'istio-system', ip: '127.0.0.1', nodeId: GW_NODE, discoveryAddress: `127.0.0.1:${cp.port}`,
    adminPort: '0', statusPort: '0', prometheusPort: '0', mergedMetricsPort: 'off', accessLog: 'off', labelsFile: '/nonexistent',
  }, {});
  gw = new Proxy(boot, pino({ level: process.env.PROXY_TEST_LOG ?? 'silent' }));
  await gw.start();
  await until(() => gw.security.store.get('kubernetes://a') !== undefined && gw.listeners.boundPort('0.0.0.0_8443') !== undefined, 15_000, 'gateway config and secrets');
}, 60_000);

afterAll(async () => {
  gw?.stop();
  await cp?.close();
  await app?.close();
  for (const c of closers) c();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway mode', () => {
  it('serves two hosts with their own certificates on one port, chosen by SNI, for a verifying client', async () => {
    const a = await get('a.example.com', { path: '/x' });
    expect(a.status).toBe(200);
    expect(a.body).toContain('app GET /x');
    expect((await get('shop.b.example.com')).status).toBe(200);
    await expect(get('unknown.example.com')).rejects.toThrow();
  });

  it('curl verifies the chain and the host name (SNI) over HTTP/2 and HTTP/1.1', async () => {
    writeFileSync(join(dir, 'root.pem'), root.rootPem);
    for (const proto of ['--http2', '--http1.1']) {
      const out = await new Promise<string>((resolve) => execFile('curl', ['-sS', proto, '--cacert', join(dir, 'root.pem'), '--resolve', `a.example.com:${httpsPort}:127.0.0.1`, `https://a.example.com:${httpsPort}/curl`], { timeout: 15_000 }, (e, so, se) => resolve(e ? `error ${se}` : so)));
      expect(out, proto).toContain('app GET /curl');
    }
  });

  it('MUTUAL: a client certificate from the credential CA is required', async () => {
    await expect(get('m.example.com')).rejects.toThrow();
    const client = await createWorkloadCert(clientRoot, { dnsNames: ['client'] });
    expect((await get('m.example.com', { cert: client })).status).toBe(200);
  });

  it('PASSTHROUGH: routed by SNI without terminating TLS', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: httpsPort, servername: 'c.example.com', ca: root.rootPem }, () => s.write('GET / HTTP/1.1\r\nhost: c.example.com\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(out).toContain('backend');
  });

  it('httpsRedirect: plain HTTP gets a 301 to https', async () => {
    const r = await new Promise<{ status: number; location: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: httpPort, path: '/cart?x=1', headers: { host: 'shop.example.com' } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: String(res.headers.location) });
      }).on('error', reject);
    });
    expect(r).toEqual({ status: 301, location: 'https://shop.example.com/cart?x=1' });
  });

  it('a rotated Secret is served to the next handshake, with no restart', async () => {
    const before = await get('a.example.com');
    expect(before.serial.toLowerCase()).toBe(parseCertificate(certA.certPem).serialNumber.toLowerCase());
    const next = await createWorkloadCert(root, { dnsNames: ['a.example.com'] });
    push(next);
    await until(async () => (await get('a.example.com')).serial.toLowerCase() === parseCertificate(next.certPem).serialNumber.toLowerCase(), 10_000, 'new certificate served');
    expect((await get('a.example.com')).status).toBe(200);
  });
});

describe('gateway HTTP/2', () => {
  it('h2 over TLS (ALPN h2)', async () => {
    const http2 = await import('node:http2');
    const body = await new Promise<string>((resolve, reject) => {
      const s = http2.connect(`https://a.example.com:${httpsPort}`, { ca: root.rootPem, servername: 'a.example.com', host: '127.0.0.1', port: httpsPort } as never);
      s.on('error', reject);
      const req = s.request({ ':path': '/h2', ':authority': 'a.example.com' });
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => { s.close(); resolve(b); });
      req.on('error', reject);
      req.end();
    });
    expect(body).toContain('app GET /h2');
  }, 10_000);
});
