import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CaBundlePatcher, type WebhookConfigApi, type WebhookConfiguration } from './ca-bundle';

describe('CaBundlePatcher', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('sets the caBundle of every webhook that differs, and nothing when they match', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-bundle-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const config: WebhookConfiguration = { webhooks: [{ name: 'a', clientConfig: {} }, { name: 'b', clientConfig: { caBundle: 'b2xk' } }] };
    const patches: unknown[] = [];
    const api: WebhookConfigApi = {
      read: async () => structuredClone(config),
      patch: async (_name, ops) => {
        patches.push(ops);
        for (const op of ops) config.webhooks![Number(op.path.split('/')[2])].clientConfig.caBundle = op.value;
      },
    };
    const patcher = new CaBundlePatcher(api, 'istio-sidecar-injector', join(dir, 'ca.crt'), pino({ level: 'silent' }));
    expect(await patcher.sync()).toBe(2);
    const expected = Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64');
    expect(patches[0]).toEqual([
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: expected },
      { op: 'replace', path: '/webhooks/1/clientConfig/caBundle', value: expected },
    ]);
    expect(await patcher.sync()).toBe(0);
  });

  it('logs and carries on when the CA file or the API fails', async () => {
    const api: WebhookConfigApi = { read: async () => { throw new Error('forbidden'); }, patch: async () => undefined };
    expect(await new CaBundlePatcher(api, 'x', '/nonexistent/ca.crt', pino({ level: 'silent' })).sync()).toBe(0);
  });

  it('retries within seconds while the webhook configuration does not exist yet, then patches it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-bundle-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'ca.crt'), 'PEM');
    let exists = false;
    let reads = 0;
    const config: WebhookConfiguration = { webhooks: [{ name: 'a', clientConfig: {} }] };
    const api: WebhookConfigApi = {
      read: async () => {
        reads++;
        if (!exists) throw new Error('HTTP-Code: 404 mutatingwebhookconfigurations "x" not found');
        return structuredClone(config);
      },
      patch: async (_n, ops) => {
        config.webhooks![0].clientConfig.caBundle = ops[0].value;
      },
    };
    const patcher = new CaBundlePatcher(api, 'x', join(dir, 'ca.crt'), pino({ level: 'silent' }));
    patcher.start({ intervalMs: 60_000, retryMs: 20, maxRetryMs: 40 });
    try {
      await new Promise((r) => setTimeout(r, 150));
      expect(patcher.failing).toBe(true);
      expect(reads).toBeGreaterThanOrEqual(3); // retried, not left for the 60 s interval
      exists = true;
      const until = Date.now() + 2000;
      while (config.webhooks![0].clientConfig.caBundle === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(config.webhooks![0].clientConfig.caBundle).toBe(Buffer.from('PEM').toString('base64'));
      expect(patcher.failing).toBe(false);
    } finally {
      patcher.stop();
    }
  });
});
