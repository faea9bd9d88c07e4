// The StatefulSet controller's re-create of a deleted pod, against a host that orders the events
// as the runtime can: the pod's DELETED event (its sandbox could not be set up) handled while the
// create is still in flight. The periodic resync is set far beyond the test, so only the
// controller's own re-queue can bring the pod back.
import { afterEach, describe, expect, it } from 'vitest';
import { StatefulSetController, type SetPod, type StatefulSetHost } from './statefulsets';
import type { KubeObject, PodObject } from './kube';

const set = (replicas: number): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'web', namespace: 'sts', uid: 'u1' },
  spec: { replicas, serviceName: 'web', selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'test/echo:latest' }] } } },
});

/** Pods by name; `failNext` creates end the way a sandbox failure does in the runtime. */
class Host implements StatefulSetHost {
  readonly pods = new Map<string, SetPod>();
  readonly creates: string[] = [];
  failNext = 0;
  controller!: StatefulSetController;
  podsOf(): SetPod[] {
    return [...this.pods.values()];
  }
  async createPod(pod: PodObject): Promise<unknown> {
    const name = pod.metadata.name!;
    this.creates.push(name);
    const revision = pod.metadata.labels?.['controller-revision-hash'];
    this.pods.set(name, { name, ready: false, revision });
    void this.controller.sync('sts/web'); // ADDED
    await Promise.resolve();
    if (this.failNext > 0) {
      this.failNext--;
      // The kubelet removes the pod it could not set up: DELETED reaches the controller first,
      // then the create rejects.
      this.pods.delete(name);
      void this.controller.sync('sts/web');
      await new Promise((r) => setTimeout(r, 5));
      throw new Error(`pod sts/${name}: volume config: ConfigMap sts/missing not found`);
    }
    this.pods.set(name, { name, ready: true, revision });
    void this.controller.sync('sts/web'); // Ready
    return { key: `sts/${name}` };
  }
  async deletePod(key: string): Promise<void> {
    this.pods.delete(key.split('/')[1]);
    void this.controller.sync('sts/web');
  }
  log(): void {}
}

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('StatefulSetController', () => {
  let c: StatefulSetController | undefined;
  afterEach(() => c?.stop());

  it('re-creates a pod whose create ended after its DELETED event was handled (no resync needed), with back-off', async () => {
    const host = new Host();
    c = host.controller = new StatefulSetController(host, 3_600_000);
    await c.apply(set(2));
    await until('web-0 and web-1', () => host.pods.get('web-0')?.ready === true && host.pods.get('web-1')?.ready === true);
    host.failNext = 3;
    const t0 = Date.now();
    await host.deletePod('sts/web-1');
    await until('web-1 back and ready', () => host.pods.get('web-1')?.ready === true);
    // The three failed creates and the one that worked; retries waited 100, 200 and 400 ms.
    expect(host.creates.filter((n) => n === 'web-1')).toHaveLength(5);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
    expect(host.creates.filter((n) => n === 'web-0')).toHaveLength(1);
  });
});
