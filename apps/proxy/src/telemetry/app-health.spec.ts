import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AppProbersError, parseAppProbers } from './app-health';
import { listenMetrics, mergedMetricsHandler } from './endpoints';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function listen(server: http.Server | net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

describe('/app-health on the status port', () => {
  it('forwards HTTP and TCP probes to the app on localhost and answers with its verdict', async () => {
    let healthy = true;
    const app = http.createServer((req, res) => {
      if (req.url === '/healthz' && req.headers['x-probe'] === 'yes') res.writeHead(healthy ? 200 : 500).end();
      else res.writeHead(404).end();
    });
    const appPort = await listen(app);
    const tcp = net.createServer((s) => s.end());
    const tcpPort = await listen(tcp);
    const probers = parseAppProbers(JSON.stringify({
      '/app-health/web/readyz': { httpGet: { path: '/healthz', port: appPort, httpHeaders: [{ name: 'x-probe', value: 'yes' }] }, timeoutSeconds: 1 },
      '/app-health/web/livez': { tcpSocket: { port: tcpPort } },
      '/app-health/gone/livez': { tcpSocket: { port: 1 } },
    }));
    const status = await listenMetrics(mergedMetricsHandler({ proxy: [], appUrl: null, appProbers: probers }), '127.0.0.1', 0);
    closers.push(() => status.server.close());
    const get = (p: string) => fetch(`http://127.0.0.1:${status.port}${p}`).then((r) => r.status);
    expect(await get('/app-health/web/readyz')).toBe(200);
    healthy = false;
    expect(await get('/app-health/web/readyz')).toBe(500);
    expect(await get('/app-health/web/livez')).toBe(200);
    expect(await get('/app-health/gone/livez')).toBe(503);
    expect(await get('/app-health/other/readyz')).toBe(404);
  });

  it('refuses malformed ISTIO_KUBE_APP_PROBERS with the reason', () => {
    expect(() => parseAppProbers('{')).toThrow(AppProbersError);
    expect(() => parseAppProbers('{"/healthz": {"httpGet": {"port": 80}}}')).toThrow(/does not start with \/app-health\//);
    expect(() => parseAppProbers('{"/app-health/a/readyz": {"httpGet": {}}}')).toThrow(/needs httpGet or tcpSocket with a port/);
    expect(() => parseAppProbers('{"/app-health/a/readyz": {"httpGet": {"port": 443, "scheme": "HTTPS"}}}')).toThrow(/HTTPS is not supported/);
    expect(parseAppProbers(undefined).size).toBe(0);
  });
});
