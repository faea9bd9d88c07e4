import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCertificate } from '@tsmesh/certs';
import { downstreamTlsContext, ExtensionTypeUrl, pack, sdsCommonTlsContext, unpack, upstreamTlsContext } from '@tsmesh/xds';
import { startCa, type CaProcess } from '../../test/ca-process';
import { CertAgent, type CertStatus } from './agent';
import { SecretStore, SDS_DEFAULT, SDS_ROOTCA } from './secrets';
import { DownstreamTls, UpstreamTls } from './tls-context';
import { peerIdentityOf } from './peer';

let ca: CaProcess;
const agents: CertAgent[] = [];
const servers: net.Server[] = [];

beforeAll(async () => {
  ca = await startCa();
}, 60_000);
afterAll(async () => {
  for (const a of agents) a.stop();
  for (const s of servers) s.close();
  await ca?.stop();
});

function agent(store: SecretStore, namespace: string, serviceAccount: string, extra: Partial<ConstructorParameters<typeof CertAgent>[0]> = {}): CertAgent {
  const tokenFile = join(ca.dir, `${namespace}-${serviceAccount}.jwt`);
  const a = new CertAgent({
    store, caAddress: ca.address, caRootFile: ca.bundleFile, caServerName: 'istio-ca.istio-system.svc', tokenFile, namespace, serviceAccount, ...extra,
  });
  agents.push(a);
  return a;
}

async function writeToken(namespace: string, serviceAccount: string, asNamespace = namespace, asSa = serviceAccount): Promise<void> {
  writeFileSync(join(ca.dir, `${namespace}-${serviceAccount}.jwt`), await ca.mint(asNamespace, asSa));
}

describe('certificate agent against the CA process', () => {
  it('gets a workload certificate with the service-account token and serves it as SDS default and ROOTCA', async () => {
    const store = new SecretStore();
    await writeToken('shop', 'caller');
    const a = agent(store, 'shop', 'caller');
    await a.start();
    const def = store.get(SDS_DEFAULT)!.value;
    const bundle = store.get(SDS_ROOTCA)!.value;
    expect(def.kind).toBe('tls_certificate');
    expect(bundle.kind === 'validation_context' && bundle.trustedCaPem).toBe(ca.rootPem);
    const leaf = parseCertificate(def.kind === 'tls_certificate' ? def.chainPem : '');
    expect(leaf.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/caller');
    const st = a.status()!;
    const life = leaf.notAfter.getTime() - Date.now();
    // renewal near half of the remaining life (±5% jitter)
    expect(new Date(st.renewAt).getTime() - Date.now()).toBeGreaterThan(life * 0.4);
    expect(new Date(st.renewAt).getTime() - Date.now()).toBeLessThan(life * 0.6);
  });

  it('two agents give two proxies mutual TLS with CA-issued certificates', async () => {
    const s1 = new SecretStore();
    const s2 = new SecretStore();
    await writeToken('shop', 'callme');
    await writeToken('shop', 'caller2');
    await Promise.all([agent(s1, 'shop', 'callme').start(), agent(s2, 'shop', 'caller2').start()]);
    const ds = new DownstreamTls(s1, unpack(pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ['h2', 'http/1.1'] }), true))));
    const seen = new Promise<string>((resolve) => {
      const srv = net.createServer((raw) => {
        const s = ds.wrap(raw);
        s.on('error', () => {});
        s.once('secure', () => resolve(peerIdentityOf(s)?.principal ?? ''));
      });
      servers.push(srv);
      srv.listen(0, '127.0.0.1', async () => {
        const up = new UpstreamTls(s2, unpack(pack(ExtensionTypeUrl.UpstreamTlsContext, upstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ['istio-peer-exchange', 'istio'], spiffeIds: ['spiffe://cluster.local/ns/shop/sa/callme'] })))));
        const c = await up.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port });
        expect(peerIdentityOf(c)?.principal).toBe('spiffe://cluster.local/ns/shop/sa/callme');
        c.end();
      });
    });
    expect(await seen).toBe('spiffe://cluster.local/ns/shop/sa/caller2');
  });

  it('rotates at half-life: new connections get the new certificate, an open one keeps working', async () => {
    const store = new SecretStore();
    await writeToken('shop', 'rotating');
    const a = agent(store, 'shop', 'rotating', { ttlSeconds: 6, jitter: 0 });
    await a.start();
    const first = a.status()!;
    const ds = new DownstreamTls(store, unpack(pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT }), false))));
    const srv = net.createServer((raw) => {
      const s = ds.wrap(raw);
      s.on('error', () => {});
      s.on('data', (d) => s.write(d));
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const client = new SecretStore();
    client.set(SDS_ROOTCA, { kind: 'validation_context', trustedCaPem: ca.rootPem, sans: [] });
    const up = new UpstreamTls(client, unpack(pack(ExtensionTypeUrl.UpstreamTlsContext, upstreamTlsContext({ combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: SDS_ROOTCA } } } as never))));
    const open = await up.connect({ host: '127.0.0.1', port });
    const serialOf = (s: { getPeerCertificate(): { serialNumber: string } }) => s.getPeerCertificate().serialNumber.toLowerCase();
    expect(serialOf(open)).toBe(first.serialNumber.toLowerCase());

    const rotated = await new Promise<CertStatus>((resolve) => a.once('issued', resolve));
    expect(rotated.serialNumber).not.toBe(first.serialNumber);
    expect(rotated.rotations).toBe(2);
    const fresh = await up.connect({ host: '127.0.0.1', port });
    expect(serialOf(fresh)).toBe(rotated.serialNumber.toLowerCase());
    const echo = new Promise<string>((r) => open.once('data', (d) => r(String(d))));
    open.write('ping');
    expect(await echo).toBe('ping');
    open.destroy();
    fresh.destroy();
  }, 30_000);

  it('reports a refused request (token of another identity) and keeps retrying', async () => {
    const store = new SecretStore();
    await writeToken('shop', 'impostor', 'shop', 'someone-else');
    const a = agent(store, 'shop', 'impostor', { retryInitialMs: 100 });
    const failed = new Promise<Error>((r) => a.once('failed', r));
    void a.start().catch(() => {});
    expect((await failed).message).toMatch(/PERMISSION_DENIED|identity/i);
    expect(store.get(SDS_DEFAULT)).toBeUndefined();
    a.stop();
  });
});
