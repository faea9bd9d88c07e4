/**
 * Gateway API layer 4 through the real proxy in router mode, configured over ADS with exactly the
 * resources the control plane generates for apps/control-plane/testdata/golden/gateway-api-tls.yaml
 * (its golden output, read as Envoy JSON): only the listener addresses, the endpoints and the
 * certificate are replaced by local ones. A TLS Passthrough listener routes by SNI to TLS backends
 * without terminating (the client sees the backend's certificate), weighted 90/10 for one host; a
 * TCP listener splits connections 50/50; a TLS Terminate listener serves the certificate of a
 * Secret in another namespace (`kubernetes-gateway://certs/echo-cert`) and proxies the decrypted
 * stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { createRootCa, createWorkloadCert, parseCertificate, type Issuer, type WorkloadCert } from '@tsmesh/certs';
import { clusterLoadAssignment, packEnvoyJson, Snapshot, tlsCertificateSecret, TypeUrl } from '@tsmesh/xds';
import { Proxy } from '../src/agent/proxy';
import { bootstrap } from '../src/agent/bootstrap';
import { ControlPlane, listenerPort, until } from './harness';

const GOLDEN = resolve(import.meta.dirname, '../../control-plane/testdata/golden/gateway-api-tls.gateway.json');
const GW_NODE = 'router~127.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local';
type Json = Record<string, unknown>;

let root: Issuer;
let backendRoot: Issuer;
let dbCert: WorkloadCert;
let echoCert: WorkloadCert;
let cp: ControlPlane;
let gw: Proxy;
const ports = new Map<number, number>();
const closers: (() => void)[] = [];

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}


/** A TLS backend answering its name, with its own certificate. */
async function tlsBackend(name: string, cert: WorkloadCert): Promise<number> {
  return listen(tls.createServer({ key: cert.keyPem, cert: cert.chainPem }, (s) => s.end(`backend ${name}\n`)));
}

/** A TCP backend echoing what it reads after its name. */
async function tcpBackend(name: string): Promise<number> {
  return listen(net.createServer((s) => s.once('data', (d) => s.end(`${name}:${String(d)}`))));
}

/** Opens TLS to a gateway port with `sni`; resolves the peer certificate's serial and what was read. */
function tlsTo(port: number, sni: string, ca: string, send = ''): Promise<{ serial: string; body: string }> {
  return new Promise((resolvePromise, reject) => {
    let serial: string | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, servername: sni, ca }, () => {
      serial = s.getPeerCertificate().serialNumber ?? '';
      if (send) s.write(send);
    });
    let body = '';
    s.on('data', (d) => (body += d));
    s.on('end', () => (serial === undefined ? reject(new Error(`${sni}: closed before the TLS handshake`)) : resolvePromise({ serial, body })));
    s.on('error', reject);
  });
}

function tcpTo(port: number, send: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(send));
    let body = '';
    s.on('data', (d) => (body += d));
    s.on('end', () => resolvePromise(body));
    s.on('error', reject);
  });
}

describe.skipIf(!existsSync(GOLDEN))('Gateway API TLS passthrough, TLS terminate and TCP listeners through the router', () => {
  beforeAll(async () => {
    root = await createRootCa({ subject: 'CN=gateway root' });
    backendRoot = await createRootCa({ subject: 'CN=backend root' });
    [dbCert, echoCert] = await Promise.all([createWorkloadCert(backendRoot, { dnsNames: ['db.example.com'] }), createWorkloadCert(root, { dnsNames: ['echo.example.com'] })]);
    const apiCert = await createWorkloadCert(backendRoot, { dnsNames: ['api.example.com'] });
    const endpoints: Record<string, number> = {
      'outbound|8443||db-tls.default.svc.cluster.local': await tlsBackend('db', dbCert),
      'outbound|8443||api-v1.default.svc.cluster.local': await tlsBackend('api-v1', apiCert),
      'outbound|8443||api-v2.default.svc.cluster.local': await tlsBackend('api-v2', apiCert),
      'outbound|7000||echo-v1.default.svc.cluster.local': await tcpBackend('echo-v1'),
      'outbound|7000||echo-v2.default.svc.cluster.local': await tcpBackend('echo-v2'),
    };
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, Json[]>;
    const decode = (r: Json) => { const { '@type': _t, ...rest } = r; return packEnvoyJson(rest) as never; };
    const listeners: never[] = [];
    for (const l of golden.LDS) {
      const sa = (l.address as { socket_address: { port_value: number } }).socket_address;
      const port = await listenerPort();
      ports.set(sa.port_value, port);
      listeners.push(decode({ ...l, address: { socket_address: { address: '127.0.0.1', port_value: port } } }));
    }
    const secretName = (golden.SDS[0] as { name: string }).name;
    cp = new ControlPlane();
    await cp.start();
    cp.cache.setSnapshot(GW_NODE, Snapshot.create('v1', {
      [TypeUrl.Listener]: listeners,
      [TypeUrl.RouteConfiguration]: (golden.RDS ?? []).map(decode),
      [TypeUrl.Cluster]: golden.CDS.map(decode),
      [TypeUrl.ClusterLoadAssignment]: golden.EDS.filter((e) => !endpoints[e.cluster_name as string]).map(decode)
        .concat(Object.entries(endpoints).map(([name, port]) => clusterLoadAssignment(name, [{ address: '127.0.0.1', port }]) as never)),
      [TypeUrl.Secret]: [tlsCertificateSecret(secretName, echoCert.chainPem, echoCert.keyPem)],
    }));
    const boot = bootstrap('router', {
      podName: 'istio-ingressgateway-0', podNamespace: 'istio-system', ip: '127.0.0.1', nodeId: GW_NODE, discoveryAddress: `127.0.0.1:${cp.port}`,
      adminPort: '0', statusPort: '0', prometheusPort: '0', mergedMetricsPort: 'off', accessLog: 'off', labelsFile: '/nonexistent',
    }, {});
    gw = new Proxy(boot, pino({ level: process.env.PROXY_TEST_LOG ?? 'silent' }));
    await gw.start();
    await until(() => ['0.0.0.0_8443', '0.0.0.0_9000', '0.0.0.0_9443'].every((n) => gw.listeners.boundPort(n) !== undefined) && gw.security.store.get(secretName) !== undefined, 15_000, 'gateway listeners and the certificate');
    expect(cp.nacks).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    gw?.stop();
    await cp?.close();
    for (const c of closers) c();
  });

  it('TLS Passthrough: routed by SNI to the TLS backend, which terminates (its certificate is the one seen)', async () => {
    const r = await tlsTo(ports.get(8443)!, 'db.example.com', backendRoot.rootPem);
    expect(r.body).toBe('backend db\n');
    expect(r.serial.toLowerCase()).toBe(parseCertificate(dbCert.certPem).serialNumber.toLowerCase());
  });

  it('TLS Passthrough: an SNI no TLSRoute claims is refused', async () => {
    await expect(tlsTo(ports.get(8443)!, 'other.example.com', backendRoot.rootPem)).rejects.toThrow();
    // api.example.org is outside the listener hostname *.example.com: not routed either.
    await expect(tlsTo(ports.get(8443)!, 'api.example.org', backendRoot.rootPem)).rejects.toThrow();
  });

  it('TLS Passthrough: weighted backendRefs (90/10) split connections', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const r = await tlsTo(ports.get(8443)!, 'api.example.com', backendRoot.rootPem);
      counts[r.body.trim()] = (counts[r.body.trim()] ?? 0) + 1;
    }
    expect(Object.keys(counts).sort()).toEqual(['backend api-v1', 'backend api-v2']);
    expect(counts['backend api-v1']).toBeGreaterThan(counts['backend api-v2']);
  });

  it('TCP: a TCPRoute splits connections 50/50 between its backends, bytes passed both ways', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const body = await tcpTo(ports.get(9000)!, `hello ${i}`);
      expect(body).toMatch(new RegExp(`^echo-v[12]:hello ${i}$`));
      seen.add(body.split(':')[0]);
    }
    expect([...seen].sort()).toEqual(['echo-v1', 'echo-v2']);
  });

  it('TLS Terminate: the certificate of the granted Secret in another namespace, then TCP to the backend', async () => {
    const r = await tlsTo(ports.get(9443)!, 'echo.example.com', root.rootPem, 'over tls');
    expect(r.serial.toLowerCase()).toBe(parseCertificate(echoCert.certPem).serialNumber.toLowerCase());
    expect(r.body).toBe('echo-v1:over tls');
  });
});
