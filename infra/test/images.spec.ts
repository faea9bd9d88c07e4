// The seven images, built (infra/docker/build-images.sh --host: no image registry needed) and started
// with testcontainers on a real Docker engine. Where none runs, infra/docker/engine.sh installs
// Debian's docker.io and starts dockerd; the tests skip only where that cannot be done (not root,
// no apt-get), saying so.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient, createCsr, generateKeyPair as generateCertKeys, parseCertificate } from '@tsmesh/certs';
// @ts-expect-error: a plain ES module of the image build, without types
import { bundleModules } from '../docker/app-modules.mjs';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true'; // the reaper image would need a registry
const root = resolve(import.meta.dirname, '../..');
const APPS = ['proxy', 'control-plane', 'ca', 'injector', 'todolist', 'caller', 'callme'];
/** Where build-images.sh --host stages the bundles and their metafiles for this checkout. */
const stage = join(process.env.TMPDIR ?? '/tmp', `tsmesh-image-context-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`, '.docker-stage');

const engine = spawnSync('bash', [join(root, 'infra/docker/engine.sh')], { encoding: 'utf8', timeout: 600_000 });
const skipReason = engine.status === 3 ? engine.stderr.trim() : null;
if (skipReason) console.warn(`infra images: skipped: ${skipReason}`);

interface Load { spec: string; kind: string; at: string }

/** Runs a command in a fresh container of `image` (entrypoint replaced) and returns its output. */
function runIn(image: string, argv: string[], opts: { user?: string } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('docker', ['run', '--rm', ...(opts.user ? ['--user', opts.user] : []), '--entrypoint', argv[0], image, ...argv.slice(1)], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(skipReason !== null)('images (testcontainers, Docker engine)', () => {
  // eslint-disable-next-line @typescript-eslint/consistent-type-imports
  let tc: typeof import('testcontainers');
  let network: Awaited<ReturnType<InstanceType<typeof tc.Network>['start']>>;
  const started: { stop(): Promise<unknown> }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-images-'));

  beforeAll(async () => {
    if (engine.status !== 0) throw new Error(`no Docker engine: infra/docker/engine.sh exited ${engine.status}: ${engine.stderr}`);
    tc = await import('testcontainers');
    await promisify(execFile)('bash', [join(root, 'infra/docker/build-images.sh'), '--host', ...APPS], { cwd: root, timeout: 900_000, maxBuffer: 16 << 20 });
    network = await new tc.Network().start();
  }, 920_000);

  afterAll(async () => {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    await network?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds every module a bundle loads, including createRequire loads esbuild cannot see', () => {
    const specs = (app: string) => (bundleModules(join(stage, 'dist/apps', app), join(stage, 'meta', `${app}.json`)) as Load[]).map((l) => `${l.kind}:${l.spec}`);
    // libs/xds finds the xDS protos through require.resolve of a createRequire; the proxy loads its addon the same way.
    expect(specs('control-plane')).toContain('require-resolve:@grpc/grpc-js-xds/package.json');
    expect(specs('proxy')).toContain('require-resolve:@grpc/grpc-js-xds/package.json');
    expect(specs('proxy')).toContain('require-call:tsmesh-original-dst');
    expect(specs('ca')).toContain('import-statement:@grpc/grpc-js');
  });

  it.each(APPS)('the %s image holds every module its bundle loads, and each loads there', (app) => {
    const loads = bundleModules(join(stage, 'dist/apps', app), join(stage, 'meta', `${app}.json`)) as Load[];
    expect(loads.length).toBeGreaterThan(0);
    // In the image, as its user, from the bundle's folder: require() what the bundle requires
    // (the addon included: its .node and shared libraries must load), import() what it imports.
    const script = `
      import { createRequire } from 'node:module';
      const req = createRequire('/app/dist/apps/${app}/main.js');
      const failed = [];
      for (const { spec, kind } of ${JSON.stringify(loads.map(({ spec, kind }) => ({ spec, kind })))}) {
        try { if (kind.startsWith('require')) req(spec); else await import(spec); }
        catch (e) { failed.push(spec + ' (' + kind + '): ' + String(e.message).split('\\n')[0]); }
      }
      process.stdout.write(JSON.stringify(failed));`;
    const r = runIn(`tsmesh/${app}:latest`, ['node', '--input-type=module', '-e', script]);
    expect(r.stderr.trim() === '' || r.code === 0, r.stderr).toBe(true);
    expect((JSON.parse(r.stdout || '["no output"]') as string[]).join('\n')).toBe('');
  });

  it('todolist, callme and caller start, answer /healthz, and caller reaches callme-service by its plain name', async () => {
    const start = async (image: string, port: number, alias: string, env: Record<string, string>) => {
      const c = await new tc.GenericContainer(image)
        .withNetwork(network).withNetworkAliases(alias).withEnvironment(env).withExposedPorts(port)
        .withWaitStrategy(tc.Wait.forHttp('/healthz', port)).withStartupTimeout(60_000).start();
      started.push(c);
      return `http://${c.getHost()}:${c.getMappedPort(port)}`;
    };
    const todolist = await start('tsmesh/todolist:latest', 8000, 'todolist', { VERSION: 'v2' });
    await start('tsmesh/callme:latest', 8091, 'callme-service', { VERSION: 'v1' });
    const caller = await start('tsmesh/caller:latest', 8090, 'caller-service', { VERSION: 'v1' });

    const page = await fetch(`${todolist}/`);
    expect(page.headers.get('x-version')).toBe('v2');
    expect(await page.text()).toContain('data-testid="banner"');
    expect(await (await fetch(`${caller}/caller/ping`)).text()).toBe('caller-service:v1. Calling... callme-service:v1');
  });

  it('the injector answers an AdmissionReview over HTTPS with a mounted certificate', async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-subj', '/CN=istio-sidecar-injector.istio-system.svc',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
    const certs = ['tls.crt', 'tls.key'].map((f) => ({ content: readFileSync(join(dir, f), 'utf8'), target: `/etc/istio/injector-certs/${f}`, mode: 0o644 }));
    const c = await new tc.GenericContainer('tsmesh/injector:latest')
      .withCopyContentToContainer(certs).withExposedPorts(15017)
      .withWaitStrategy(tc.Wait.forLogMessage(/injector webhook listening/)).withStartupTimeout(60_000).start();
    started.push(c);
    const review = readFileSync(join(root, 'apps/injector/testdata/admission-review/deployment-pod.enabled-namespace.json'), 'utf8');
    const body = await new Promise<string>((done, fail) => {
      httpsRequest({
        host: c.getHost(), port: c.getMappedPort(15017), path: '/inject', method: 'POST', headers: { 'content-type': 'application/json' },
        ca: readFileSync(join(dir, 'tls.crt')), servername: 'localhost',
      }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => done(data));
      }).on('error', fail).end(review);
    });
    const answer = JSON.parse(body) as { kind: string; response: { uid: string; allowed: boolean; patchType?: string; patch?: string } };
    expect(answer.kind).toBe('AdmissionReview');
    expect(answer.response).toMatchObject({ uid: JSON.parse(review).request.uid, allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString()) as { path: string; value?: unknown }[];
    expect(JSON.stringify(patch)).toContain('istio-proxy');
  });

  it('the injector with no certificate mounted issues its own (CA + serving certificate for its Service) and serves with it', async () => {
    const c = await new tc.GenericContainer('tsmesh/injector:latest')
      .withCommand(['serve', '--self-signed-dir', '/var/run/injector-certs', '--namespace-labels', 'none']).withTmpFs({ '/var/run/injector-certs': 'rw' }).withExposedPorts(15017)
      .withWaitStrategy(tc.Wait.forLogMessage(/injector webhook listening/)).withStartupTimeout(60_000).start();
    started.push(c);
    const ca = (await c.exec(['node', '-e', 'process.stdout.write(require("fs").readFileSync("/var/run/injector-certs/ca.crt"))'])).output;
    expect(ca).toContain('BEGIN CERTIFICATE');
    const body = await new Promise<string>((done, fail) => {
      httpsRequest({ host: c.getHost(), port: c.getMappedPort(15017), path: '/healthz', ca, servername: 'istio-sidecar-injector.istio-system.svc' }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => done(data));
      }).on('error', fail).end();
    });
    expect(JSON.parse(body)).toEqual({ status: 'ok' });
  });

  it('the CA issues a workload certificate for a service-account token', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
    const c = await new tc.GenericContainer('tsmesh/ca:latest')
      .withCopyContentToContainer([{ content: jwks, target: '/etc/tsmesh/jwks.json', mode: 0o644 }])
      .withCommand(['--jwks', '/etc/tsmesh/jwks.json', '--root-file', '/tmp/root.pem', '--bundle-out', '/tmp/root-cert.pem', '--cacerts', '/nonexistent'])
      .withExposedPorts(8060).withWaitStrategy(tc.Wait.forLogMessage(/"ready":true|listening/)).withStartupTimeout(60_000).start();
    started.push(c);
    const bundle = await c.exec(['node', '-e', 'process.stdout.write(require("fs").readFileSync("/tmp/root-cert.pem"))']);
    expect(bundle.output).toContain('BEGIN CERTIFICATE');
    const token = await new SignJWT({ 'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'callme', uid: 'u1' }, pod: { name: 'callme-0', uid: 'p1' } } })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('system:serviceaccount:default:callme').setAudience('istio-ca')
      .setIssuer('https://kubernetes.default.svc.cluster.local').setIssuedAt().setExpirationTime('1h').sign(privateKey);
    const client = new CaClient({ address: `${c.getHost()}:${c.getMappedPort(8060)}`, rootPem: bundle.output, serverName: 'istio-ca.istio-system.svc' });
    try {
      const chain = await client.createCertificate({ csr: await createCsr(await generateCertKeys(), { spiffeId: 'spiffe://cluster.local/ns/default/sa/callme' }), token });
      expect(parseCertificate(chain[0]).spiffeId).toBe('spiffe://cluster.local/ns/default/sa/callme');
    } finally {
      client.close();
    }
  });

  it('the control plane serves xDS to the proxy in router mode, which routes the gateway to todolist', async () => {
    const backend = await new tc.GenericContainer('tsmesh/todolist:latest').withNetwork(network).withEnvironment({ VERSION: 'v1' })
      .withExposedPorts(8000).withWaitStrategy(tc.Wait.forHttp('/healthz', 8000)).withStartupTimeout(60_000).start();
    started.push(backend);
    const config = `apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports:
    - {name: http2, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata: {name: todolist, namespace: default}
spec:
  clusterIP: 10.96.0.30
  selector: {app: todolist}
  ports: [{name: http, port: 8000, targetPort: 8000}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: todolist-1, namespace: default, labels: {kubernetes.io/service-name: todolist}}
addressType: IPv4
ports: [{name: http, port: 8000, protocol: TCP}]
endpoints: [{addresses: [${backend.getIpAddress(network.getName())}], conditions: {ready: true}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: todolist, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: todolist.default.svc.cluster.local, port: {number: 8000}}}]}]
`;
    const cp = await new tc.GenericContainer('tsmesh/control-plane:latest').withNetwork(network).withNetworkAliases('istiod')
      .withCopyContentToContainer([{ content: config, target: '/etc/tsmesh/config/mesh.yaml', mode: 0o644 }])
      .withCommand(['--config-dir', '/etc/tsmesh/config']).withExposedPorts(15010, 15014)
      .withWaitStrategy(tc.Wait.forLogMessage(/ADS \(plaintext\) listening/)).withStartupTimeout(60_000).start();
    started.push(cp);
    const gw = await new tc.GenericContainer('tsmesh/proxy:latest').withNetwork(network)
      .withCopyContentToContainer([{ content: 'app="istio-ingressgateway"\nistio="ingressgateway"\n', target: '/etc/istio/pod/labels', mode: 0o644 }])
      .withCommand(['proxy', 'router', '--discovery-address', 'istiod:15010', '--pod-name', 'istio-ingressgateway-0', '--pod-namespace', 'istio-system', '--admin-host', '0.0.0.0'])
      .withExposedPorts(8080).withWaitStrategy(tc.Wait.forLogMessage(/proxy started/)).withStartupTimeout(60_000).start();
    started.push(gw);
    const url = `http://${gw.getHost()}:${gw.getMappedPort(8080)}/`;
    let last = '';
    for (const until = Date.now() + 60_000; Date.now() < until;) {
      const r = await fetch(url).catch((e: Error) => e);
      if (!(r instanceof Error) && r.status === 200) {
        expect(r.headers.get('x-version')).toBe('v1');
        expect(await r.text()).toContain('api/todos');
        // The control plane sees the proxy as connected and synced.
        const status = await (await fetch(`http://${cp.getHost()}:${cp.getMappedPort(15014)}/debug/syncz`)).text();
        expect(status).toContain('istio-ingressgateway-0');
        return;
      }
      last = r instanceof Error ? r.message : `HTTP ${r.status}`;
      await new Promise((d) => setTimeout(d, 500));
    }
    throw new Error(`the gateway did not route / to todolist within 60 s (last: ${last})`);
  });

  it("the proxy image runs istio-init as injected (root, NET_ADMIN/NET_RAW) and installs Istio's chains", async () => {
    // The arguments the injector gives istio-init by default (apps/injector testdata golden files).
    const initArgs = ['istio-iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];
    const quoted = initArgs.map((a) => `'${a}'`).join(' ');
    const c = await new tc.GenericContainer('tsmesh/proxy:latest')
      .withUser('0').withAddedCapabilities('NET_ADMIN', 'NET_RAW')
      .withEntrypoint(['sh', '-c', `node /app/dist/apps/proxy/main.js ${quoted} && iptables-save -t nat`])
      .withWaitStrategy(tc.Wait.forOneShotStartup()).withStartupTimeout(60_000).start();
    started.push(c);
    const logs = await new Promise<string>((done, fail) => {
      let text = '';
      void c.logs().then((stream) => stream.on('data', (d) => (text += d)).on('end', () => done(text)).on('error', fail));
    });
    expect(logs).toMatch(/-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);
    expect(logs).toMatch(/-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006/);
    expect(logs).toMatch(/-m owner --uid-owner 1337 -j RETURN/);
  });
});

if (skipReason) {
  describe('images (no Docker engine can run here)', () => {
    it.skip(`skipped: ${skipReason}`, () => undefined);
  });
}
