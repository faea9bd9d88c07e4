/**
 * The mesh from the built images: the local driver with every container run from its image's file
 * system (the runtime's `fromImages`: the images' users, capabilities, read-only root file systems
 * and pull policies honoured), and the scenarios that prove the images work together in the mesh —
 * canary routing through the gateway and STRICT mTLS between sidecars. The full scenario list runs
 * this way with `E2E_LOCAL_IMAGES=1` (test/mesh.spec.ts). Local driver only: on kind the images
 * are what runs anyway.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMeshDriver, ROOT } from '../src/drivers/index';
import { burst, closeLoad, share } from '../src/load';
import { peerAuthentication } from '../src/config';
import { eventually, fromPod } from '../src/mesh-client';

const driver = new LocalMeshDriver(ROOT, { log: (line) => void (process.env.E2E_VERBOSE && console.log(line)), fromImages: true });
const skipReason = (process.env.E2E_DRIVER ?? 'local') !== 'local' ? `E2E_DRIVER=${process.env.E2E_DRIVER}: the image pass runs on the local driver` : await driver.unavailable();
if (skipReason) console.warn(`e2e (local driver, from images) skipped: ${skipReason}`);

const statusOf = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(statusOf(pid))?.[1]);

describe.skipIf(skipReason !== null)('mesh from the built images (local driver)', () => {
  beforeAll(async () => {
    await driver.up();
    const serving = await eventually(async () => (await burst(20, 5, `${driver.gatewayHttp()}/`)).every((s) => s.status === 200), 60_000, 500);
    if (!serving) throw new Error('the ingress gateway did not serve todolist within 60 s of every pod being ready');
  });
  afterAll(async () => {
    await closeLoad();
    await driver.down();
  });

  it("runs every container from its image's file system, as the image's or the manifest's user", () => {
    const pods = driver.runtime.pods();
    expect(pods.length).toBeGreaterThanOrEqual(9);
    const workspaceFile = `${ROOT}/package.json`.slice(1);
    for (const p of pods) {
      for (const c of p.containers.filter((x) => x.state === 'running')) {
        const at = `${p.namespace}/${p.name}/${c.name}`;
        // The process's root is the image: the bundles under /app, not the workspace.
        expect(existsSync(`/proc/${c.pid}/root/app/dist/apps`), at).toBe(true);
        expect(existsSync(`/proc/${c.pid}/root/${workspaceFile}`), at).toBe(false);
        expect(uidOf(c.pid!), at).toBe(p.namespace === 'default' && c.name !== 'istio-proxy' ? 1000 : 1337);
        // drop: ["ALL"] everywhere (istio-init, the only root container, has exited).
        expect(/^CapEff:\s+0+$/m.test(statusOf(c.pid!)), at).toBe(true);
      }
    }
  });

  it('splits todolist 90/10 through the gateway: v2 is 5–15 % of 400 requests, none failed', async () => {
    const samples = await burst(400, 20, `${driver.gatewayHttp()}/`);
    const failed = samples.filter((s) => s.status !== 200);
    expect(failed.length, failed.slice(0, 3).map((s) => `${s.status} ${s.error ?? s.body.slice(0, 80)}`).join('; ')).toBe(0);
    const v2 = share(samples, (s) => s.headers['x-version'] === 'v2') * 100;
    expect(v2).toBeGreaterThanOrEqual(5);
    expect(v2).toBeLessThanOrEqual(15);
  });

  it('with STRICT mTLS, caller reaches callme, whose sidecar sees caller’s SPIFFE ID; a plaintext client is refused', async () => {
    await driver.apply(peerAuthentication('STRICT'));
    await new Promise((r) => setTimeout(r, 2000));
    const samples = await fromPod(driver, 'default', { app: 'caller-service' }, { host: 'callme-service', port: 8091, paths: ['/callme/ping'], n: 20, concurrency: 4 });
    expect(samples.filter((s) => s.status !== 200).map((s) => `${s.status} ${s.error ?? s.body}`)).toEqual([]);
    const ip = driver.podIP('default', { app: 'callme-service', version: 'v2' });
    const seen = await eventually(async () => {
      const text = await fetch(`http://${ip}:15090/stats/prometheus`).then((r) => r.text()).catch(() => '');
      return /istio_requests_total\{[^}]*reporter="destination"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/caller-service"/.test(text);
    }, 10_000);
    expect(seen).toBe(true);
    const plain = await fetch(`http://${ip}:8091/callme/ping`, { signal: AbortSignal.timeout(5000) }).then((x) => `HTTP ${x.status}`, (e: Error) => `error: ${e.message}`);
    expect(plain).toMatch(/^error/);
  });
});
