/**
 * Deployment rollouts on the local runtime with test images: RollingUpdate within maxSurge /
 * maxUnavailable gated on readiness, Recreate, ReplicaSets and status, refused strategies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime } from '../src/runtime';
import { TEST_IMAGES } from './fixtures';

const app = (o: { msg: string; replicas: number; strategy?: string; readyAfterMs?: number }) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: roll, namespace: dep }
spec:
  replicas: ${o.replicas}
  selector: { matchLabels: { app: roll } }
  strategy: ${o.strategy ?? '{ type: RollingUpdate, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }'}
  template:
    metadata: { labels: { app: roll } }
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: echo
          image: test/echo:latest
          env:
            - { name: PORT, value: "8080" }
            - { name: MSG, value: "${o.msg}" }
            - { name: READY_AFTER_MS, value: "${o.readyAfterMs ?? 0}" }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
`;

/** Samples the Deployment's pods every 25 ms until `done` resolves. */
async function watchPods(rt: LocalRuntime, done: Promise<unknown>): Promise<{ ready: number; total: number; live: number; hashes: string[] }[]> {
  const out: { ready: number; total: number; live: number; hashes: string[] }[] = [];
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) {
    const pods = rt.pods().filter((p) => p.namespace === 'dep' && p.labels.app === 'roll' && p.phase !== 'Succeeded');
    const live = pods.filter((p) => p.ready);
    out.push({ ready: live.length, total: pods.length, live: pods.filter((p) => !p.object.metadata.deletionTimestamp).length, hashes: [...new Set(pods.map((p) => p.labels['pod-template-hash']))] });
    await new Promise((r) => setTimeout(r, 25));
  }
  return out;
}

describe('LocalRuntime Deployment rollouts', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await LocalRuntime.start({ images: TEST_IMAGES, meshPki: false, maxGraceMs: 2000, backoff: { initialMs: 200, maxMs: 1000 } });
    await rt.apply(app({ msg: 'one', replicas: 2 }));
    await rt.waitRollout('dep/roll', { timeoutMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    await rt?.stop();
  });

  it('RollingUpdate (maxSurge 1, maxUnavailable 0) keeps 2 pods Ready and at most 3 at any time, and records ReplicaSets and status', async () => {
    const before = rt.get('Deployment', 'dep/roll')!;
    expect(before.status).toMatchObject({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2, observedGeneration: 1 });
    const oldHash = rt.pods().find((p) => p.labels.app === 'roll')!.labels['pod-template-hash'];
    await rt.apply(app({ msg: 'two', replicas: 2, readyAfterMs: 700 }));
    const samples = await watchPods(rt, rt.waitRollout('dep/roll', { timeoutMs: 40_000 }));
    // Readiness gating: an old pod goes only once a new one is Ready.
    expect(Math.min(...samples.map((s) => s.ready))).toBeGreaterThanOrEqual(2);
    // Terminating pods (deletionTimestamp set) still show in pods() while they stop; the others never exceed replicas + maxSurge.
    expect(Math.max(...samples.map((s) => s.live))).toBeLessThanOrEqual(3);
    expect(Math.max(...samples.map((s) => s.live))).toBe(3);
    expect(samples.some((s) => s.hashes.length === 2), 'old and new pods overlapped').toBe(true);
    const pods = rt.pods().filter((p) => p.namespace === 'dep' && p.labels.app === 'roll');
    expect(pods).toHaveLength(2);
    expect(pods.every((p) => p.labels['pod-template-hash'] !== oldHash && p.ready)).toBe(true);
    const dep = rt.get('Deployment', 'dep/roll')!;
    expect(dep.metadata.generation).toBe(2);
    expect(dep.status).toMatchObject({ replicas: 2, updatedReplicas: 2, availableReplicas: 2, observedGeneration: 2 });
    const sets = rt.list('ReplicaSet').filter((r) => r.metadata.namespace === 'dep');
    expect(sets.map((r) => [r.metadata.name, (r.spec as { replicas: number }).replicas]).sort()).toEqual(
      [[`roll-${oldHash}`, 0], [`roll-${pods[0].labels['pod-template-hash']}`, 2]].sort());
    expect(sets.every((r) => r.metadata.ownerReferences?.[0]?.kind === 'Deployment')).toBe(true);
  }, 60_000);

  it('minReadySeconds: an old pod goes only once a new one has been Ready that long', async () => {
    await rt.apply(app({ msg: 'slow', replicas: 1, strategy: '{ type: RollingUpdate, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }' }).replace('  replicas: 1\n', '  replicas: 1\n  minReadySeconds: 2\n'));
    await rt.waitRollout('dep/roll', { timeoutMs: 40_000 });
    const first = rt.pods().find((p) => p.namespace === 'dep' && p.labels.app === 'roll' && !p.object.metadata.deletionTimestamp)!;
    await rt.apply(app({ msg: 'slower', replicas: 1, strategy: '{ type: RollingUpdate, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }' }).replace('  replicas: 1\n', '  replicas: 1\n  minReadySeconds: 2\n'));
    let newReadyAt = 0;
    let oldGoneAt = 0;
    const done = rt.waitRollout('dep/roll', { timeoutMs: 40_000 });
    let finished = false;
    void done.finally(() => (finished = true));
    while (!finished) {
      const pods = rt.pods().filter((p) => p.namespace === 'dep' && p.labels.app === 'roll');
      if (!newReadyAt && pods.some((p) => p.name !== first.name && p.ready)) newReadyAt = Date.now();
      if (!oldGoneAt && !pods.some((p) => p.name === first.name && !p.object.metadata.deletionTimestamp)) oldGoneAt = Date.now();
      await new Promise((r) => setTimeout(r, 25));
    }
    await done;
    expect(newReadyAt).toBeGreaterThan(0);
    expect(oldGoneAt - newReadyAt).toBeGreaterThanOrEqual(1800);
    expect(rt.get('Deployment', 'dep/roll')?.status).toMatchObject({ availableReplicas: 1, updatedReplicas: 1 });
  }, 60_000);

  it('Recreate removes every old pod before a new one starts', async () => {
    await rt.apply(app({ msg: 'three', replicas: 2, strategy: '{ type: Recreate }' }));
    await rt.waitRollout('dep/roll', { timeoutMs: 40_000 });
    // A changed template under Recreate: no sample holds two templates at once.
    const done = rt.apply(app({ msg: 'four', replicas: 2, strategy: '{ type: Recreate }' })).then(() => rt.waitRollout('dep/roll', { timeoutMs: 40_000 }));
    const samples = await watchPods(rt, done);
    expect(samples.every((s) => s.hashes.length <= 1)).toBe(true);
    expect(samples.some((s) => s.total === 0)).toBe(true);
    expect(rt.pods().filter((p) => p.namespace === 'dep' && p.labels.app === 'roll' && p.ready)).toHaveLength(2);
  }, 90_000);

  it('refuses a strategy Kubernetes refuses, by field, and applies the rest', async () => {
    const refused = await rt.apply(`${app({ msg: 'x', replicas: 1, strategy: '{ type: RollingUpdate, rollingUpdate: { maxSurge: 0, maxUnavailable: "0%" } }' }).replace('name: roll,', 'name: bad,')}
---
apiVersion: v1
kind: ConfigMap
metadata: { name: beside, namespace: dep }
data: { a: b }
`);
    expect(refused).toEqual([{ kind: 'Deployment', key: 'dep/bad', reason: expect.stringMatching(/spec\.strategy\.rollingUpdate\.maxUnavailable: may not be 0 when maxSurge is 0/) }]);
    expect(rt.get('ConfigMap', 'dep/beside')).toBeDefined();
    const odd = await rt.apply(app({ msg: 'x', replicas: 1, strategy: '{ type: Canary }' }).replace('name: roll,', 'name: odd,'));
    expect(odd[0]?.reason).toMatch(/spec\.strategy\.type: Unsupported value "Canary"/);
    expect(rt.pods().some((p) => p.namespace === 'dep' && p.name.startsWith('bad-'))).toBe(false);
  });
});
