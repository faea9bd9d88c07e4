import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaClient, createCsr, generateKeyPair, parseCertificate } from '@tsmesh/certs';
import { LocalRuntime } from '../src/runtime';
import { IMAGES } from '../src/images';
import { TokenIssuer } from '../src/tokens';
import { echoApp, TEST_IMAGES } from './fixtures';

const root = join(import.meta.dirname, '..', '..', '..');
const caBuilt = existsSync(join(root, 'dist/apps/ca/main.js'));

// The real CA (dist/apps/ca) from infra/k8s, started by the runtime with its JWKS and plug-in root, signs for a pod's mounted token.
describe.skipIf(!caBuilt)('service-account tokens with the real CA', () => {
  let rt: LocalRuntime;
  let client: CaClient;
  beforeAll(async () => {
    rt = await LocalRuntime.start({
      images: { ...IMAGES, ...TEST_IMAGES },
      manifests: [join(root, 'infra/k8s/base/istio-system/namespace.yaml'), join(root, 'infra/k8s/base/istio-system/ca.yaml')],
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    await rt.apply(echoApp({ name: 'echo' }));
    await rt.waitReady({ timeoutMs: 60_000 });
    client = new CaClient({ address: `${rt.serviceIP('istio-system', 'istio-ca')}:8060`, rootPem: rt.pki!.rootPem, serverName: 'istio-ca.istio-system.svc' });
  }, 90_000);
  afterAll(async () => {
    client?.close();
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it('issues a certificate for the identity of the mounted token, chained to the run root', async () => {
    const pod = rt.pods().find((p) => p.labels.app === 'echo')!;
    const token = readFileSync(join(rt.runDir, 'pods', `default_${pod.name}`, 'volumes', 'token', 'istio-token'), 'utf8');
    const csr = await createCsr(await generateKeyPair(), {});
    const chain = await client.createCertificate({ csr, token });
    expect(parseCertificate(chain[0]).spiffeId).toBe('spiffe://cluster.local/ns/default/sa/echo');
    expect(chain[chain.length - 1].trim()).toBe(rt.pki!.rootPem.trim());
  });

  it('refuses a token the runtime did not sign', async () => {
    const other = await TokenIssuer.create();
    const token = await other.issue({ namespace: 'default', serviceAccount: 'echo', audiences: ['istio-ca'] });
    const csr = await createCsr(await generateKeyPair(), {});
    await expect(client.createCertificate({ csr, token })).rejects.toMatchObject({ code: 16 });
  });
});
