// Builds the sample, injector and proxy images (infra/docker/build-images.sh --host, so no image registry
// is needed) and starts them with testcontainers. Skipped, with the reason, where no Docker engine runs.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true'; // the reaper image would need a registry
const root = resolve(import.meta.dirname, '../..');

async function dockerEngine(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const client = await getContainerRuntimeClient();
    return client.info.containerRuntime.host ?? 'docker';
  } catch {
    return undefined;
  }
}

const engine = await dockerEngine();
if (!engine) {
  console.warn('infra images: skipped: no Docker engine runs here (start dockerd, or set DOCKER_HOST, to build and start the images)');
}

describe.skipIf(!engine)('images (testcontainers)', () => {
  // eslint-disable-next-line @typescript-eslint/consistent-type-imports
  let tc: typeof import('testcontainers');
  let network: Awaited<ReturnType<InstanceType<typeof tc.Network>['start']>>;
  const started: { stop(): Promise<unknown> }[] = [];

  beforeAll(async () => {
    tc = await import('testcontainers');
    await promisify(execFile)('bash', [join(root, 'infra/docker/build-images.sh'), '--host', 'todolist', 'caller', 'callme', 'injector', 'proxy'], {
      cwd: root, timeout: 300_000,
    });
    network = await new tc.Network().start();
  }, 320_000);

  afterAll(async () => {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    await network?.stop().catch(() => undefined);
  });

  it('todolist, callme and caller start, answer /healthz, and caller reaches callme-service by its plain name', async () => {
    const start = async (image: string, port: number, alias: string, env: Record<string, string>) => {
      const c = await new tc.GenericContainer(image)
        .withNetwork(network).withNetworkAliases(alias).withEnvironment(env).withExposedPorts(port)
        .withWaitStrategy(tc.Wait.forHttp('/healthz', port)).withStartupTimeout(30_000).start();
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

  it('the injector serves its webhook over HTTPS with a mounted certificate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'injector-image-'));
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-subj', '/CN=istio-sidecar-injector.istio-system.svc',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ], { stdio: 'ignore' });
      const certs = ['tls.crt', 'tls.key'].map((f) => ({ content: readFileSync(join(dir, f), 'utf8'), target: `/etc/istio/injector-certs/${f}`, mode: 0o644 }));
      const c = await new tc.GenericContainer('tsmesh/injector:latest')
        .withCopyContentToContainer(certs).withExposedPorts(15017)
        .withWaitStrategy(tc.Wait.forLogMessage(/injector webhook listening/)).withStartupTimeout(30_000).start();
      started.push(c);
      const { request } = await import('node:https');
      const body = await new Promise<string>((done, fail) => {
        request({ host: c.getHost(), port: c.getMappedPort(15017), path: '/healthz', ca: readFileSync(join(dir, 'tls.crt')), servername: 'localhost' }, (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => done(data));
        }).on('error', fail).end();
      });
      expect(JSON.parse(body)).toEqual({ status: 'ok' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

describe.skipIf(!!engine)('images (no Docker engine)', () => {
  it.skip('skipped: no Docker engine runs here (start dockerd, or set DOCKER_HOST, to build and start the images)', () => undefined);
});
