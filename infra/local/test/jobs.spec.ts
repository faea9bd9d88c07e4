import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime } from '../src/runtime';
import { run } from '../src/exec';
import type { JobStatus } from '../src/jobs';
import { TEST_IMAGES } from './fixtures';

const IMAGES = TEST_IMAGES;

const job = (name: string, image: string, extra: string) => `
apiVersion: batch/v1
kind: Job
metadata: { name: ${name}, namespace: jobs }
spec:
${extra}
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      restartPolicy: Never
      initContainers:
        # A native sidecar, as the injector adds istio-proxy with native sidecars enabled.
        - { name: istio-proxy, image: test/sleep:latest, restartPolicy: Always }
      containers:
        - { name: main, image: ${image} }
`;

async function waitJob(rt: LocalRuntime, key: string, type: 'Complete' | 'Failed', timeoutMs = 30_000): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = rt.get('Job', key)?.status as JobStatus | undefined;
    if (st?.conditions?.some((c) => c.type === type)) return st;
    if (Date.now() > deadline) throw new Error(`Job ${key} has no ${type} condition: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('LocalRuntime Jobs with a native sidecar', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await LocalRuntime.start({ images: IMAGES, meshPki: false, backoff: { initialMs: 100, maxMs: 400 } });
  }, 60_000);
  afterAll(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it('completes: the sidecar stops when the main container exits, the Job gets Complete, nothing is left behind', async () => {
    await rt.apply(job('batch', 'test/done:latest', '  completions: 2\n  parallelism: 1'));
    // Watch the pods while they run: their sidecar processes and network namespaces must go.
    const seen = new Map<string, { netns: string; pids: number[] }>();
    const deadline = Date.now() + 30_000;
    let status: JobStatus | undefined;
    while (Date.now() < deadline) {
      for (const p of rt.pods().filter((x) => x.labels['job-name'] === 'batch')) {
        const pids = p.containers.map((c) => c.pid).filter((x): x is number => !!x);
        const prev = seen.get(p.name);
        seen.set(p.name, { netns: p.netns, pids: [...new Set([...(prev?.pids ?? []), ...pids])] });
        expect(p.labels['batch.kubernetes.io/job-name']).toBe('batch');
        expect(p.object.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Job', name: 'batch' });
      }
      status = rt.get('Job', 'jobs/batch')?.status as JobStatus | undefined;
      if (status?.conditions?.some((c) => c.type === 'Complete')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status?.conditions?.map((c) => c.type)).toEqual(['SuccessCriteriaMet', 'Complete']);
    expect(status).toMatchObject({ succeeded: 2, failed: 0, active: 0 });
    expect(status?.completionTime).toBeDefined();
    expect(seen.size).toBe(2);
    expect(rt.pods().filter((x) => x.labels['job-name'] === 'batch')).toEqual([]);
    const nsList = await run(['ip', 'netns', 'list']);
    for (const { netns, pids } of seen.values()) {
      expect(nsList).not.toContain(netns);
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    }
  }, 45_000);

  it('fails after backoffLimit failed pods with BackoffLimitExceeded, and tears every pod down', async () => {
    await rt.apply(job('broken', 'test/exit:latest', '  backoffLimit: 1'));
    const status = await waitJob(rt, 'jobs/broken', 'Failed');
    expect(status).toMatchObject({ failed: 2, succeeded: 0 });
    expect(status.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('BackoffLimitExceeded');
    expect(rt.pods().filter((x) => x.labels['job-name'] === 'broken')).toEqual([]);
  }, 45_000);

  it('runs a CronJob\'s Job (as kubectl create job --from=cronjob) to completion and keeps only successfulJobsHistoryLimit', async () => {
    await rt.apply(`
apiVersion: batch/v1
kind: CronJob
metadata: { name: nightly, namespace: jobs }
spec:
  schedule: "0 3 * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          initContainers: [{ name: istio-proxy, image: test/sleep:latest, restartPolicy: Always }]
          containers: [{ name: main, image: test/done:latest }]
`);
    const first = (await rt.createJobFromCronJob('jobs/nightly'))!;
    expect(first).toMatch(/^jobs\/nightly-manual-/);
    expect(rt.get('Job', first)?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', name: 'nightly' });
    expect((await waitJob(rt, first, 'Complete')).succeeded).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    const second = (await rt.createJobFromCronJob('jobs/nightly'))!;
    expect(second).not.toBe(first);
    await waitJob(rt, second, 'Complete');
    // The older finished Job is pruned past the history limit.
    for (let i = 0; i < 50 && rt.get('Job', first); i++) await new Promise((r) => setTimeout(r, 100));
    expect(rt.get('Job', first)).toBeUndefined();
    expect(rt.get('Job', second)).toBeDefined();
  }, 45_000);

  it('refuses what it cannot run, naming the kind, object and field, and applies the rest', async () => {
    const refused = await rt.apply(`
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: agent, namespace: jobs }
spec: { selector: { matchLabels: { app: agent } }, template: { metadata: { labels: { app: agent } }, spec: { containers: [{ name: a, image: test/sleep }] } } }
---
apiVersion: batch/v1
kind: Job
metadata: { name: forever, namespace: jobs }
spec: { template: { spec: { restartPolicy: Always, containers: [{ name: a, image: test/sleep }] } } }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: jobs }
data: { a: b }
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: typo, namespace: jobs }
spec: { schedule: "61 * * * *", jobTemplate: { spec: { template: { spec: { restartPolicy: Never, containers: [{ name: a, image: test/done }] } } } } }
`);
    expect(refused.map((r) => `${r.kind} ${r.key}`)).toEqual(['DaemonSet jobs/agent', 'Job jobs/forever', 'CronJob jobs/typo']);
    expect(refused[2].reason).toMatch(/CronJob jobs\/typo: spec\.schedule "61 \* \* \* \*" is not a valid cron schedule/);
    expect(refused[0].reason).toMatch(/DaemonSet jobs\/agent is stored but not run/);
    expect(refused[1].reason).toMatch(/Job jobs\/forever: spec\.template\.spec\.restartPolicy must be Never or OnFailure \(got Always\)/);
    expect(rt.get('ConfigMap', 'jobs/settings')).toBeDefined();
    expect(rt.get('Job', 'jobs/forever')).toBeUndefined();
  });
});
