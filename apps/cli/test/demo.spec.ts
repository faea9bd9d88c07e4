import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli';
import { addDemoOptions } from '../src/commands/demo';
import { count, formatTally, ProgressTracker, share, statusLine, tryCommands, urlLines, type DemoEndpoints, type MeshSnapshot, type Tally } from '../src/commands/demo-mesh';
import { analyze } from '../src/commands/analyze';
import { leftovers, portFree } from '@tsmesh/cluster';
import { createServer } from 'node:net';
import { Command } from 'commander';

const pod = (key: string, o: Partial<MeshSnapshot['pods'][number]> = {}) => ({ key, ip: '10.244.1.2', ready: false, sidecar: true, sidecarReady: false, restarts: 0, ...o });

describe('demo progress', () => {
  it('reports pods admitted with a sidecar, sidecars ready, pods ready, endpoints and restarts, once each', () => {
    const t = new ProgressTracker();
    const s1: MeshSnapshot = { pods: [pod('default/todolist-v1-a'), pod('istio-system/istiod-b', { sidecar: false })], endpoints: { 'default/todolist': [] }, expectedPods: 3 };
    expect(t.update(s1).map((e) => `${e.kind} ${e.subject}`)).toEqual(['started default/todolist-v1-a', 'started istio-system/istiod-b']);
    expect(statusLine(s1)).toBe('pods 0/3 ready · sidecars 0/1 ready · endpoints for 0/1 services');
    expect(t.update(s1)).toEqual([]);
    const s2: MeshSnapshot = { ...s1, pods: [pod('default/todolist-v1-a', { sidecarReady: true, ready: true }), pod('istio-system/istiod-b', { sidecar: false, restarts: 1 })], endpoints: { 'default/todolist': ['10.244.1.2:8000'] } };
    expect(t.update(s2).map((e) => `${e.kind} ${e.subject} ${e.detail}`.trim())).toEqual([
      'sidecar default/todolist-v1-a istio-proxy ready',
      'ready default/todolist-v1-a',
      'restarted istio-system/istiod-b 1 restart',
      'endpoints default/todolist 10.244.1.2:8000',
    ]);
    expect(statusLine(s2)).toBe('pods 1/3 ready · sidecars 1/1 ready · endpoints for 1/1 services');
    expect(t.update({ ...s2, pods: [s2.pods[1]] }).map((e) => e.kind)).toEqual(['gone']);
  });
});

describe('demo split tally', () => {
  it('counts answers by version with shares and bars', () => {
    const t: Tally = { total: 0, counts: {}, failures: 0 };
    for (let i = 0; i < 9; i++) count(t, 'v1', true);
    count(t, 'v2', true);
    expect(share(t, 'v2')).toBe(10);
    expect(formatTally(t, '')).toBe(['v1          9   90 %  ' + '█'.repeat(36), 'v2          1   10 %  ' + '█'.repeat(4)].join('\n'));
    count(t, 'HTTP 503', false);
    expect(t.failures).toBe(1);
  });
});

describe('demo summary', () => {
  const e: DemoEndpoints = {
    gatewayHttp: 'http://127.0.0.1:8080',
    gatewayHttps: 'https://localhost:8443',
    httpsHost: 'localhost',
    controlPlane: 'http://127.0.0.1:15014',
    gatewayMetrics: 'http://127.0.0.1:40001',
    sidecarMetrics: 'http://127.0.0.1:40002',
    sidecarPod: 'default/todolist-v1-a',
    rootCaFile: '/tmp/run/demo/root-cert.pem',
  };
  it('lists the URLs and the commands to try', () => {
    expect(urlLines(e).map(([k]) => k)).toEqual(['gateway HTTP', 'gateway HTTPS', 'todolist page', 'caller → callme', 'gateway metrics', 'sidecar metrics', 'proxy status', 'dashboard', 'traces', 'prometheus']);
    expect(urlLines({ ...e, dashboard: 'http://127.0.0.1:20001' }).find(([k]) => k === 'dashboard')![1]).toMatch(/^http:\/\/127\.0\.0\.1:20001\/ /);
    expect(urlLines({ ...e, prometheus: 'http://127.0.0.1:9090' }).at(-1)![1]).toMatch(/^http:\/\/127\.0\.0\.1:9090\/graph\?g0\.expr=sum\(rate\(istio_requests_total/);
    expect(urlLines({ ...e, prometheusMissing: '/usr/bin/prometheus not found' }).at(-1)![1]).toBe('not running: /usr/bin/prometheus not found');
    const cmds = tryCommands(e, { cli: 'node dist/apps/cli/main.js', applyHint: 'cp x.yaml /tmp/run/apply/', controlPlaneDefault: true });
    expect(cmds[0]).toBe("alias tsmesh='node dist/apps/cli/main.js'");
    expect(cmds.join('\n')).toContain("curl -s -o /dev/null -D - http://127.0.0.1:8080/ | grep -i '^x-version'");
    expect(cmds).toContain('tsmesh proxy-status');
    expect(cmds.join('\n')).toContain('curl --cacert /tmp/run/demo/root-cert.pem https://localhost:8443/api/version');
    const other = tryCommands({ ...e, controlPlane: 'http://127.0.0.1:41000' }, { cli: 'tsmesh', applyHint: '', controlPlaneDefault: false });
    expect(other[0]).toContain('export TSMESH_CONTROL_PLANE=http://127.0.0.1:41000');
  });

  it('ships a 50/50 canary that is the base VirtualService with the weights moved', () => {
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const r = analyze([`${root}infra/k8s/base`, `${root}tools/demo-todolist-50-50.yaml`]);
    // The only finding about the file is that it redefines the base VirtualService todolist, as intended.
    expect(r.issues.filter((i) => i.severity === 'error').map((i) => i.reason)).toEqual([expect.stringContaining('is also defined in')]);
    // As istioctl: the schema finding, and the gateway's credential Secret, which the runtime creates, is not among the files.
    expect(r.messages.filter((m) => m.level !== 'Info').map((m) => `${m.code} ${m.origin}`)).toEqual(['IST0106 VirtualService default/todolist', 'IST0101 Gateway default/tsmesh-gateway']);
  });
});

describe('demo flags', () => {
  it('parses the shared flags', () => {
    let got: Record<string, unknown> = {};
    const c = addDemoOptions(new Command('demo')).exitOverride().action((o: Record<string, unknown>) => {
      got = o;
    });
    c.parse(['--check', '--http-port', '0', '--requests', '50'], { from: 'user' });
    expect(got).toMatchObject({ check: true, httpPort: 0, requests: 50, timeout: 300 });
    expect(() => c.parse(['--timeout', 'soon'], { from: 'user' })).toThrow(/whole number/);
  });

  it('is a tsmesh subcommand', () => {
    let out = '';
    const p = buildProgram({ out: (s) => (out += s), err: () => undefined, exit: () => undefined });
    expect(() => p.parse(['demo', '--help'], { from: 'user' })).toThrow();
    expect(out).toContain('--check');
    expect(out).toContain('--kind');
    expect(out).toContain('--xds');
  });

  it('tells a taken loopback port from a free one', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    expect(await portFree(port)).toBe(false);
    await new Promise((r) => srv.close(r));
    expect(await portFree(port)).toBe(true);
  });

  it('finds nothing left of a run that never existed', () => {
    expect(leftovers('zzzz-9', [0x7ffffffe])).toEqual([]);
  });
});
