import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli';
import { formatProxyStatus, getJson, selectKind, type ProxyStatusEntry } from '../src/commands/proxy-status';

const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/${f}`, import.meta.url));

async function runCli(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  let code = 0;
  const p = buildProgram({ out: (s) => (out += s), err: (s) => (err += s), exit: (c) => (code = c) });
  try {
    await p.parseAsync(args, { from: 'user' });
  } catch (e) {
    err += (e as Error).message;
    code = code || 1;
  }
  return { out, err, code };
}

describe('tsmesh analyze', () => {
  it('accepts a consistent canary config', async () => {
    const r = await runCli(['analyze', fixture('good.yaml')]);
    expect(r.out).toMatch(/1 file\(s\), 3 resource\(s\): 0 error\(s\)/);
    expect(r.code).toBe(0);
  });

  it('names file, line, resource, field and reason for each problem, and exits 1', async () => {
    const r = await runCli(['analyze', fixture('bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/bad\.yaml:\d+: VirtualService default\/callme: spec\.http\[0\]\.retires: .*unknown field/i);
    expect(r.out).toMatch(/bad\.yaml:\d+: VirtualService default\/callme: spec\.http\[0\]\.route.*: .*90/);
  });

  it('prints JSON on request', async () => {
    const r = await runCli(['analyze', '-o', 'json', fixture('bad.yaml')]);
    const parsed = JSON.parse(r.out) as { issues: { code: string }[] };
    expect(parsed.issues.length).toBeGreaterThanOrEqual(2);
  });
});

// A /debug/syncz payload recorded from the control plane with one synced sidecar and one gateway
// that NACKed a cluster update.
const recordedSyncz: ProxyStatusEntry[] = [
  {
    proxy: 'sidecar~10.244.0.7~callme-v1-5c9d.default~default.svc.cluster.local', kind: 'sidecar', namespace: 'default', pod: 'callme-v1-5c9d', ip: '10.244.0.7', pushVersion: '20261123T181500Z/4',
    types: { CDS: { state: 'SYNCED', sent: '20261123T181500Z/4', acked: '20261123T181500Z/4' }, EDS: { state: 'SYNCED', sent: '20261123T181500Z/4', acked: '20261123T181500Z/4' }, LDS: { state: 'SYNCED', sent: 'a', acked: 'a' }, RDS: { state: 'SYNCED', sent: 'a', acked: 'a' } },
  },
  {
    proxy: 'router~10.244.0.3~istio-ingressgateway-7f.istio-system~istio-system.svc.cluster.local', kind: 'router', namespace: 'istio-system', pod: 'istio-ingressgateway-7f', ip: '10.244.0.3', pushVersion: '20261123T181500Z/4',
    types: { CDS: { state: 'NACKED', sent: 'b', acked: 'a', nack: { version: 'b', message: 'Cluster resource "x": unsupported lb_policy MAGLEV' } }, LDS: { state: 'SYNCED', sent: 'a', acked: 'a' } },
  },
];

describe('tsmesh proxy-status', () => {
  it('prints one row per proxy with each type’s state, and the NACK reasons below', () => {
    const text = formatProxyStatus(recordedSyncz);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION$/);
    expect(lines[1]).toMatch(/^callme-v1-5c9d\.default\s+sidecar\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+IGNORED\s+20261123T181500Z\/4$/);
    expect(lines[2]).toMatch(/^istio-ingressgateway-7f\.istio-system\s+router\s+NACKED \(b\)\s+SYNCED\s+IGNORED/);
    expect(text).toContain('CDS NACK of b: Cluster resource "x": unsupported lb_policy MAGLEV');
  });

  it('reports an unreachable control plane and an HTTP error clearly', async () => {
    const server = createServer((req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no connected proxy "nope"' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(getJson(`http://127.0.0.1:${port}`, '/debug/config_dump?proxyID=nope')).rejects.toThrow(/HTTP 404: no connected proxy "nope"/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    await expect(getJson(`http://127.0.0.1:${port}`, '/debug/syncz')).rejects.toThrow(/cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('selects one kind from a config dump and refuses unknown kinds', () => {
    const dump = { proxy: 'p', versions: {}, resources: { 'type.googleapis.com/envoy.config.cluster.v3.Cluster': [{ name: 'c' }], 'type.googleapis.com/envoy.config.listener.v3.Listener': [{ name: 'l' }] } };
    expect(selectKind(dump, 'clusters')).toEqual([{ name: 'c' }]);
    expect(selectKind(dump, 'listener')).toEqual([{ name: 'l' }]);
    expect(() => selectKind(dump, 'pods')).toThrow(/unknown kind "pods"/);
  });
});
