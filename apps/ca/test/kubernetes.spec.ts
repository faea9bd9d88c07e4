import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { parseCertificate } from '@tsmesh/certs';
import type { StartedCa } from '../src/app';
import { KubeConfig } from '@kubernetes/client-node';
import { callerFromReview, TokenReviewAuthenticator } from '../src/auth/token-review';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver';
import { clientFor, csrFor, startTestCa } from './helpers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ID = 'spiffe://cluster.local/ns/default/sa/callme';
let api: FakeApiServer;
let ca: StartedCa;

beforeAll(async () => {
  api = await startFakeApiServer({
    'good-token': 'tokenreview-authenticated.json',
    'node-token': 'tokenreview-node-user.json',
  });
  ca = await startTestCa(['--kubernetes', '--namespace', 'istio-system'], api.kubeConfig);
});
afterAll(async () => {
  await ca?.close();
  await api?.close();
});

/** Polls `cond` every 20 ms for up to 5 s. */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(cond()).toBe(true);
}

function watching(): boolean {
  return api.requests.some((r) => r.path === '/api/v1/namespaces' && r.watch);
}

async function ask(csr: string, token: string): Promise<string[] | ServiceError> {
  const client = clientFor(ca);
  try {
    return await client.createCertificate({ csr, token });
  } catch (err) {
    return err as ServiceError;
  } finally {
    client.close();
  }
}

describe('Kubernetes mode against a fake API server serving TokenReview payloads in the API server format', () => {
  it('creates the root Secret istio-ca-secret on first start', () => {
    expect(ca.rootSource).toBe('secret');
    const secret = api.objects.get('secrets/istio-system/istio-ca-secret');
    expect(Buffer.from(secret!.data!['ca-cert.pem'], 'base64').toString()).toBe(ca.issuer.rootPem);
    expect(api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/secrets'))?.authorization).toBe('Bearer ca-service-account-token');
  });

  it('publishes ConfigMap istio-ca-root-cert in every active namespace', () => {
    for (const ns of ['default', 'istio-system']) {
      expect(api.objects.get(`configmaps/${ns}/istio-ca-root-cert`)?.data?.['root-cert.pem']).toBe(ca.issuer.rootPem);
    }
    expect(api.objects.has('configmaps/old-team/istio-ca-root-cert')).toBe(false);
  });

  it('publishes the ConfigMap in a namespace created after start, through the namespace watch', async () => {
    await waitFor(watching);
    api.addNamespace('team-new');
    await waitFor(() => api.objects.has('configmaps/team-new/istio-ca-root-cert'));
    expect(api.objects.get('configmaps/team-new/istio-ca-root-cert')?.data?.['root-cert.pem']).toBe(ca.issuer.rootPem);
  });

  it('issues for the service account a TokenReview authenticates, sending our audience', async () => {
    const chain = (await ask((await csrFor(ID)).csr, 'good-token')) as string[];
    expect(parseCertificate(chain[0]).spiffeId).toBe(ID);
    const review = api.requests.filter((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews').at(-1);
    expect(review?.body).toMatchObject({ kind: 'TokenReview', spec: { token: 'good-token', audiences: ['istio-ca'] } });
  });

  it('refuses a token the TokenReview rejects, and a user that is not a service account', async () => {
    const revoked = (await ask((await csrFor(ID)).csr, 'revoked-token')) as ServiceError;
    expect(revoked.code).toBe(status.UNAUTHENTICATED);
    expect(revoked.details).toContain('service account token has been invalidated');
    const node = (await ask((await csrFor(ID)).csr, 'node-token')) as ServiceError;
    expect(node.code).toBe(status.UNAUTHENTICATED);
    expect(node.metadata.get('x-tsmesh-error-code')).toEqual(['CA_NOT_SERVICE_ACCOUNT']);
  });

  it('refuses a CSR for another identity than the reviewed service account', async () => {
    const err = (await ask((await csrFor('spiffe://cluster.local/ns/istio-system/sa/istiod')).csr, 'good-token')) as ServiceError;
    expect(err.code).toBe(status.PERMISSION_DENIED);
  });

  it('keeps the root across a restart and puts back an edited ConfigMap', async () => {
    const cm = api.objects.get('configmaps/default/istio-ca-root-cert')!;
    cm.data = { 'root-cert.pem': 'edited by hand' };
    const before = api.requests.length;
    const again = await startTestCa(['--kubernetes', '--namespace', 'istio-system'], api.kubeConfig);
    try {
      expect(again.issuer.rootPem).toBe(ca.issuer.rootPem);
      const writes = api.requests.slice(before).filter((r) => r.method !== 'GET');
      expect(writes.map((r) => `${r.method} ${r.path}`)).toEqual(['PUT /api/v1/namespaces/default/configmaps/istio-ca-root-cert']);
      expect(api.objects.get('configmaps/default/istio-ca-root-cert')?.data?.['root-cert.pem']).toBe(ca.issuer.rootPem);
    } finally {
      await again.close();
    }
  });

  it('answers UNAVAILABLE when the API server cannot be reached', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'gone', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'gone', user: 'u' }],
      currentContext: 'c',
    });
    await expect(new TokenReviewAuthenticator(kc, ['istio-ca'], 2000).authenticate('good-token')).rejects.toMatchObject({ code: 'CA_TOKEN_REVIEW_UNAVAILABLE', grpcCode: status.UNAVAILABLE });
  });

  it('reads the recorded-format review payload into a caller', () => {
    const review = JSON.parse(readFileSync(join(import.meta.dirname, 'testdata', 'tokenreview-authenticated.json'), 'utf8'));
    expect(callerFromReview(review, ['istio-ca'])).toEqual({ namespace: 'default', serviceAccount: 'callme', via: 'tokenreview' });
    expect(() => callerFromReview(review, ['other-aud'])).toThrow(/audiences \[istio-ca\] do not include other-aud/);
  });
});
