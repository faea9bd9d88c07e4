/** Monitoring endpoint: `/ready` and `/healthz` (200 once serving) and `/metrics` (Prometheus text). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CaMetrics } from './metrics';

/** Starts the monitoring HTTP server; resolves with it and its port. */
export async function startMonitoring(host: string, port: number, metrics: CaMetrics, ready: () => boolean): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics.render());
    } else if (path === '/ready' || path === '/healthz' || path === '/healthz/ready') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
