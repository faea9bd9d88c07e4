// preStop hooks (exec inside the container, httpGet to the pod, sleep) run by the kubelet before
// SIGTERM, within terminationGracePeriodSeconds; a failing or overlong hook is recorded as
// FailedPreStopHook and the container still stops.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime } from '../src/runtime';
import { TEST_IMAGES } from './fixtures';

const pod = (name: string, grace: number, containers: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: hooks }
spec:
  terminationGracePeriodSeconds: ${grace}
  volumes: [{ name: data, emptyDir: {} }]
  containers:
${containers}`;

const echo = (name: string, port: number, preStop: string) => `
    - name: ${name}
      image: test/echo:latest
      env: [{ name: PORT, value: "${port}" }]
      ports: [{ name: p${port}, containerPort: ${port} }]
      volumeMounts: [{ name: data, mountPath: /var/lib/hookdata }]
      lifecycle:
        preStop: ${preStop}`;

/** The times logged as `<word> <ms>` in a container's log. */
const times = (rt: LocalRuntime, p: string, c: string, word: string) =>
  readFileSync(rt.logPath('hooks', p, c), 'utf8').split('\n').filter((l) => l.startsWith(`${word} `)).map((l) => Number(l.split(' ')[1]));

const events = (rt: LocalRuntime, p: string) => rt.list('Event').filter((e) => (e.involvedObject as { name?: string }).name === p && e.reason === 'FailedPreStopHook').map((e) => e.message as string);

describe('LocalRuntime preStop hooks', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await LocalRuntime.start({ images: TEST_IMAGES, meshPki: false, maxGraceMs: 10_000 });
  }, 60_000);
  afterAll(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it('runs exec (in the container: its mounts and user) and httpGet (to the pod) before SIGTERM', async () => {
    await rt.apply(pod('both', 10, [
      echo('a', 8080, `{ exec: { command: [sh, -c, "sleep 1; echo prestop $(date +%s%3N) $(id -u) >> /var/lib/hookdata/a"] } }`),
      echo('b', 8081, '{ httpGet: { path: /prestop, port: p8081 } }'),
    ].join('')));
    await rt.waitReady({ timeoutMs: 20_000, namespace: 'hooks' });
    const dataDir = join(rt.runDir, 'pods', 'hooks_both', 'volumes', 'data');
    const t0 = Date.now();
    await rt.deletePod('hooks/both');
    // exec: ran for its 1 s in the container's mount namespace (the emptyDir at /var/lib/hookdata), as root, then SIGTERM.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    // Hooks are delivered at least once (as Kubernetes documents them): the first run counts.
    const written = readFileSync(join(dataDir, 'a'), 'utf8').trim().split('\n')[0].split(' ');
    expect(written[2]).toBe('0');
    const [stopA] = times(rt, 'both', 'a', 'stop');
    expect(stopA).toBeGreaterThanOrEqual(Number(written[1]));
    // httpGet: the request reached the container before its SIGTERM.
    const [hookB] = times(rt, 'both', 'b', 'prestop');
    const [stopB] = times(rt, 'both', 'b', 'stop');
    expect(hookB).toBeGreaterThan(0);
    expect(stopB).toBeGreaterThanOrEqual(hookB);
    expect(readFileSync(rt.logPath('hooks', 'both', 'b'), 'utf8')).toMatch(/prestop \d+ GET kube-probe/);
    expect(events(rt, 'both')).toEqual([]);
  }, 40_000);

  it('cuts a hook off at terminationGracePeriodSeconds (plus 2 s), and records a failing one; the containers stop either way', async () => {
    await rt.apply(pod('slow', 1, [echo('a', 8080, '{ exec: { command: [sleep, "30"] } }'), echo('b', 8081, '{ exec: { command: [sh, -c, "echo no >&2; exit 3"] } }')].join('')));
    await rt.waitReady({ timeoutMs: 20_000, namespace: 'hooks' });
    const t0 = Date.now();
    await rt.deletePod('hooks/slow');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(6000);
    expect(rt.get('Pod', 'hooks/slow')).toBeUndefined();
    const msgs = events(rt, 'slow');
    expect(msgs).toEqual(expect.arrayContaining([
      expect.stringMatching(/container a: exec \["sleep","30"\] did not complete within the [01](\.\d)? s left of the grace period/),
      expect.stringMatching(/container b: exec .* exited 3: no/),
    ]));
  }, 40_000);
});
