// The injector's Kubernetes API calls, against a stand-in API server on loopback: the requests
// @kubernetes/client-node sends (paths, methods, content types) and how answers and errors are read.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { kubeWebhookConfigApi, CaBundlePatcher } from './ca-bundle';
import { kubeNamespaceLabels } from './namespaces';

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  body: string;
}

describe('Kubernetes API calls', () => {
  let server: Server;
  let kc: KubeConfig;
  const seen: Seen[] = [];
  let reads = 0;
  const webhookConfig = {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'istio-sidecar-injector' },
    webhooks: [{ name: 'namespace.sidecar-injector.istio.io', clientConfig: { service: { name: 'istio-sidecar-injector', namespace: 'istio-system' } } }],
  };

  beforeAll(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/v1/namespaces/default') {
        reads++;
        return void res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', labels: { 'istio-injection': 'enabled' } } }));
      }
      if (req.url === '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector') {
        return void res.end(JSON.stringify(webhookConfig));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${req.url} not found` }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'test', token: 'test-token' }],
      contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
      currentContext: 'test',
    });
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads namespace labels once per TTL, and answers undefined for a namespace it cannot read', async () => {
    const lookup = await kubeNamespaceLabels(pino({ level: 'silent' }), 60_000, kc);
    expect(await lookup('default')).toEqual({ 'istio-injection': 'enabled' });
    expect(await lookup('default')).toEqual({ 'istio-injection': 'enabled' });
    expect(reads).toBe(1);
    expect(await lookup('missing')).toBeUndefined();
  });

  it('patches the webhook caBundle with a JSON Patch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-api-'));
    try {
      writeFileSync(join(dir, 'ca.crt'), 'PEM');
      const patcher = new CaBundlePatcher(await kubeWebhookConfigApi(kc), 'istio-sidecar-injector', join(dir, 'ca.crt'), pino({ level: 'silent' }));
      expect(await patcher.sync()).toBe(1);
      const patch = seen.find((s) => s.method === 'PATCH')!;
      expect(patch.url).toBe('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/istio-sidecar-injector');
      expect(patch.contentType).toBe('application/json-patch+json');
      expect(JSON.parse(patch.body)).toEqual([{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from('PEM').toString('base64') }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
