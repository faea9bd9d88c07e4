/**
 * `tsmesh proxy-status --pushes`, `tsmesh proxy-status <pod>` and `tsmesh wait` against a
 * stand-in monitoring server (a local HTTP server serving payloads in the shape the control
 * plane's /debug/push_status, /debug/syncz?proxyID= and /debug/config_status answer; the
 * control plane's own tests check it produces them).
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './run-cli';
import { formatAge, parseWaitTarget } from '../src/commands/proxy-status';

const ID = 'sidecar~10.244.0.30~caller-service-0.default~default.svc.cluster.local';

const PUSH = {
  push: 7, version: '20261201T100000Z/7', at: '2026-12-01T10:00:00.000Z', trigger: ['VirtualService/default/callme-service-route'], events: 1,
  proxies: 2, pushed: 2, unchanged: 0, failed: [], durationMs: 4, bytes: 1870,
  steps: { validateMs: 1.2, pushContextMs: 0.4, invalidateMs: 0.1, evicted: 3, debounceMs: 301, generateMs: 1.1, snapshotMs: 0.3, sendMs: 6, convergedMs: 309 },
  targets: [{
    proxy: ID, why: 'its sidecar scope (default) uses VirtualService/default/callme-service-route', types: ['RDS'],
    sent: { RDS: { version: 'a1b2c3d4e5f6', resources: 1, removed: 0, bytes: 935, sendMs: 0.6, at: '2026-12-01T10:00:00.005Z' } }, acked: { RDS: 308 },
  }],
};

let server: Server | undefined;
afterEach(() => { server?.close(); server = undefined; });

async function serve(routes: Record<string, (q: URLSearchParams) => unknown>): Promise<string> {
  server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const h = routes[u.pathname];
    if (!h) { res.writeHead(404).end('{}'); return; }
    const body = h(u.searchParams);
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? { error: 'no connected proxy' }));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as { port: number }).port}`;
}

describe('tsmesh proxy-status --pushes and <proxy>', () => {
  it('explains each push: trigger, proxies reached, why, types and bytes, steps', async () => {
    let asked = '';
    const base = await serve({ '/debug/push_status': (q) => { asked = q.toString(); return { pushes: [PUSH] }; } });
    const r = await runCli(['--control-plane', base, 'proxy-status', '--pushes', '--limit', '3']);
    expect(r.code).toBe(0);
    expect(asked).toBe('limit=3');
    expect(r.out).toContain('push #7 20261201T100000Z/7 at 2026-12-01T10:00:00.000Z: VirtualService/default/callme-service-route');
    expect(r.out).toContain('reached 2 of 2 proxies (0 unchanged), 1870 bytes');
    expect(r.out).toMatch(/steps: debounce 301ms, validate 1\.2ms, push context 0\.4ms, cache eviction 0\.1ms \(3 entries\), generate 1\.1ms, snapshots 0\.3ms, all generated after 4ms, all sent after 6ms, converged after 309ms/);
    expect(r.out).toContain(`${ID}: RDS — its sidecar scope (default) uses VirtualService/default/callme-service-route; RDS 1 res 935 B in 0.6ms; ACKed RDS +308ms`);
  });

  it('lists one proxy\'s resources with versions and the time since each changed', async () => {
    const base = await serve({
      '/debug/syncz': (q) => (q.get('proxyID') === 'caller-service-0.default' ? {
        proxy: ID, kind: 'sidecar', namespace: 'default', pod: 'caller-service-0', push: 7,
        types: { RDS: { state: 'SYNCED', sent: '9c1e', acked: '9c1e' } },
        resources: [
          { type: 'RDS', name: '8091', version: 'a1b2c3d4e5f60718', bytes: 935, sinceMs: 192_000 },
          { type: 'CDS', name: 'outbound|8091||callme-service.default.svc.cluster.local', version: '0f0f0f0f0f0f0f0f', bytes: 400, sinceMs: 500 },
        ],
        pushes: [{ push: 7, version: PUSH.version, at: PUSH.at, trigger: PUSH.trigger, target: PUSH.targets[0] }],
      } : undefined),
    });
    const r = await runCli(['--control-plane', base, 'proxy-status', 'caller-service-0.default']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`caller-service-0.default (sidecar, ${ID}), holds push 7`);
    const cds = lines.findIndex((l) => l.startsWith('CDS ') && l.includes('outbound|8091||'));
    const rds = lines.findIndex((l) => l.startsWith('RDS ') && l.includes('8091'));
    expect(cds).toBeGreaterThan(0);
    expect(rds).toBeGreaterThan(cds);
    expect(lines[rds]).toMatch(/^RDS\s+8091\s+a1b2c3d4e5f60718\s+935\s+3m12s ago$/);
    expect(lines[cds]).toMatch(/500ms ago$/);
    expect(r.out).toContain('#7 2026-12-01T10:00:00.000Z RDS — its sidecar scope');
    const missing = await runCli(['--control-plane', base, 'proxy-status', 'nobody.default']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('HTTP 404');
  });
});

describe('tsmesh wait', () => {
  it('returns once every affected proxy ACKed the push holding the resource', async () => {
    const states = ['pending', 'waiting', 'synced'];
    let i = 0;
    let asked = '';
    const base = await serve({
      '/debug/config_status': (q) => {
        asked = q.get('resource')!;
        const state = states[Math.min(i++, states.length - 1)];
        return { resource: asked, state, push: state === 'pending' ? undefined : 7, version: PUSH.version, affected: 2, acked: state === 'synced' ? 2 : 1, waiting: state === 'synced' ? [] : [ID] };
      },
    });
    const r = await runCli(['--control-plane', base, 'wait', 'virtualservice/default/callme-service-route', '--timeout', '10s']);
    expect(asked).toBe('VirtualService/default/callme-service-route');
    expect(r.code).toBe(0);
    expect(r.out).toBe('VirtualService/default/callme-service-route: push #7 (20261201T100000Z/7) ACKed by 2/2 proxies\n');
    expect(i).toBe(3);
  });

  it('times out naming the proxies it still waits for, exit 1; refuses a malformed target', async () => {
    const base = await serve({ '/debug/config_status': (q) => ({ resource: q.get('resource'), state: 'waiting', push: 7, affected: 2, acked: 1, waiting: [ID] }) });
    const r = await runCli(['--control-plane', base, 'wait', 'VirtualService/default/x', '--timeout', '300ms']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`Error: timed out after 300ms waiting for VirtualService/default/x: 1/2 proxies ACKed; waiting for ${ID}\n`);
    expect(() => parseWaitTarget('VirtualService/x')).toThrow('"VirtualService/x" is not <kind>/<namespace>/<name>');
    expect(() => parseWaitTarget('Frob/default/x')).toThrow('unknown kind "Frob"');
    expect(formatAge(3_723_000)).toBe('1h2m');
  });
});
