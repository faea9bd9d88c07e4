/**
 * `tsmesh local …` against a real local runtime (root; tiny Node programs as images): apply, get,
 * describe of a crash-looping container (back-off, last log lines, events), logs, exec,
 * rollout status, delete, and the errors for a bad kind and a runtime that is not running.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime } from '@tsmesh/local-runtime';
import { runCli as cli } from './run-cli';

const ECHO = `require('node:http').createServer((q, s) => s.end('echo ' + process.env.MSG)).listen(8080); console.log('start ' + process.env.MSG); process.on('SIGTERM', () => process.exit(0));`;
const CRASH = `console.log('crashing now, attempt at ' + Date.now()); setTimeout(() => process.exit(3), 100);`;
const IMAGES = { 'test/echo': { entrypoint: ['node', '-e', ECHO] }, 'test/crash': { entrypoint: ['node', '-e', CRASH] } };

const manifests = (msg: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: echo, namespace: cli }
spec:
  replicas: 1
  selector: { matchLabels: { app: echo } }
  template:
    metadata: { labels: { app: echo } }
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: echo
          image: test/echo:latest
          env: [{ name: MSG, value: "${msg}" }]
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: cli }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: crash, namespace: cli }
spec:
  selector: { matchLabels: { app: crash } }
  template:
    metadata: { labels: { app: crash } }
    spec:
      containers:
        - { name: app, image: test/crash:latest }
`;

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const root = process.getuid?.() === 0 && process.platform === 'linux';

describe.skipIf(!root)('tsmesh local against a running local runtime', () => {
  let rt: LocalRuntime;
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-local-cli-'));
  beforeAll(async () => {
    process.env.TSMESH_LOCAL_STATE_DIR = join(dir, 'state');
    rt = await LocalRuntime.start({ images: IMAGES, meshPki: false, stateDir: join(dir, 'state'), backoff: { initialMs: 300, maxMs: 2000 }, maxGraceMs: 2000 });
  }, 60_000);
  afterAll(async () => {
    await rt?.stop();
    delete process.env.TSMESH_LOCAL_STATE_DIR;
  });

  it('applies files, then lists pods, Deployments and Services as kubectl get does', async () => {
    writeFileSync(join(dir, 'app.yaml'), manifests('one'));
    const r = await cli(['local', 'apply', '-f', join(dir, 'app.yaml')]);
    expect(r, r.err).toMatchObject({ code: 0, out: 'applied\n' });
    await rt.waitRollout('cli/echo', { timeoutMs: 30_000 });
    const pods = await cli(['local', 'get', 'pods', '-n', 'cli']);
    expect(pods.out).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP$/m);
    expect(pods.out).toMatch(/^echo-[a-z0-9]+-[a-z0-9]{5}\s+1\/1\s+Running\s+0\s+\d+s\s+10\.244\./m);
    const deploy = await cli(['local', 'get', 'deploy', '-n', 'cli']);
    expect(deploy.out).toMatch(/^echo\s+1\/1\s+1\s+1\s/m);
    const svc = await cli(['local', 'get', 'svc', 'echo', '-n', 'cli', '-o', 'json']);
    expect(JSON.parse(svc.out).spec.clusterIP).toBe(rt.serviceIP('cli', 'echo'));
    expect((await cli(['local', 'get', 'pods', '-A', '-o', 'name'])).out).toMatch(/^pod\/echo-/m);
  });

  it('describes a crash-looping container with its back-off, exit code, last log lines and events', async () => {
    await until('the crash container restarted twice', () => (rt.pods().find((p) => p.labels.app === 'crash')?.containers[0]?.restartCount ?? 0) >= 2);
    const pod = rt.pods().find((p) => p.labels.app === 'crash')!;
    let d = { out: '', err: '', code: 0 };
    await until('describe showing the back-off', async () => /CrashLoopBackOff/.test((d = await cli(['local', 'describe', 'pod', pod.name, '-n', 'cli'])).out));
    expect(d.out).toContain(`Name:          ${pod.name}`);
    expect(d.out).toMatch(/Controlled By: ReplicaSet\/crash-[a-z0-9]+/);
    expect(d.out).toMatch(/Message:\s+back-off [\d.]+s restarting failed container=app/);
    expect(d.out).toContain('Last State:     Terminated (exit code 3)');
    expect(d.out).toMatch(/Restart Count:\s+[2-9]/);
    expect(d.out).toMatch(/Last log lines:\n\s+crashing now, attempt at \d+/);
    expect(d.out).toMatch(/Normal\s+Scheduled\s+.*Successfully assigned cli\/crash-/);
    expect(d.out).toMatch(/Warning\s+BackOff\s+\S+\s+\d+\s+Back-off [\d.]+s restarting failed container app in pod crash-.*\(exit code 3\)/);
    const table = await cli(['local', 'get', 'pods', '-n', 'cli']);
    expect(table.out).toMatch(/^crash-\S+\s+0\/1\s+CrashLoopBackOff\s+[1-9]/m);
    const dep = await cli(['local', 'describe', 'deploy/echo', '-n', 'cli']);
    expect(dep.out).toMatch(/ScalingReplicaSet\s+.*Scaled up replica set echo-[a-z0-9]+ from 0 to 1/);
    expect(dep.out).toMatch(/ReplicaSets:\n\s+echo-[a-z0-9]+ \(1 replicas\)/);
  });

  it('prints logs and runs a command inside a pod (reaching its Service by name)', async () => {
    const pod = rt.pods().find((p) => p.labels.app === 'echo')!;
    expect((await cli(['local', 'logs', pod.name, '-n', 'cli'])).out).toContain('start one');
    const r = await cli(['local', 'exec', pod.name, '-n', 'cli', '--', 'node', '-e', "fetch('http://echo.cli.svc.cluster.local/').then((r) => r.text()).then((t) => console.log(t))"]);
    expect(r).toMatchObject({ code: 0, out: 'echo one\n' });
    const bad = await cli(['local', 'exec', pod.name, '-n', 'cli', '--', 'node', '-e', 'process.exit(4)']);
    expect(bad.code).toBe(4);
  });

  it('waits for a rollout, then deletes a Deployment and its pods', async () => {
    writeFileSync(join(dir, 'app.yaml'), manifests('two'));
    await cli(['local', 'apply', '-f', join(dir, 'app.yaml')]);
    const r = await cli(['local', 'rollout', 'status', 'deployment/echo', '-n', 'cli', '--timeout', '30']);
    expect(r, r.err).toMatchObject({ code: 0, out: 'deployment "echo" successfully rolled out\n' });
    expect(rt.pods().filter((p) => p.labels.app === 'echo').map((p) => p.object.spec.containers[0].env?.[0]?.value)).toEqual(['two']);
    const del = await cli(['local', 'delete', 'deploy', 'echo', '-n', 'cli']);
    expect(del.out).toBe('deployment "echo" deleted\n');
    expect(rt.pods().filter((p) => p.labels.app === 'echo')).toEqual([]);
  });

  it('names what it cannot find: an unknown kind, a missing object, a runtime that is not running', async () => {
    expect((await cli(['local', 'get', 'widgets'])).err).toContain('the server doesn\'t have a resource type "widgets"');
    const missing = await cli(['local', 'describe', 'pod', 'nope', '-n', 'cli']);
    expect(missing).toMatchObject({ code: 1, err: 'Error from the local runtime: Pod cli/nope not found\n' });
    const gone = await cli(['local', '--socket', join(dir, 'none.sock'), 'get', 'pods']);
    expect(gone.err).toMatch(/the local runtime at .*none\.sock is not running \(ENOENT\)/);
  });
});
