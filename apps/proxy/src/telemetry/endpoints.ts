/**
 * The proxy's metrics endpoints, on Istio's ports: 15090 `/stats/prometheus` (the proxy's own
 * metrics: Istio's standard metrics plus whatever else the proxy exposes) and 15020
 * `/stats/prometheus` (merged: the proxy's, the agent's and the application's, scraped from the
 * port and path of the pod's `prometheus.io` annotations, which the injector passes in
 * `ISTIO_PROMETHEUS_ANNOTATIONS`). An app that cannot be scraped does not fail the merge.
 */
import { handleAppHealth, type AppProber } from './app-health';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mergeExpositions, PROMETHEUS_CONTENT_TYPE } from '@tsmesh/telemetry/metrics';

/** Where to scrape the app, from `ISTIO_PROMETHEUS_ANNOTATIONS` (`{"scrape":"true","path":"/metrics","port":"8080"}`). */
export function appScrapeTarget(env: NodeJS.ProcessEnv = process.env): string | null {
  const raw = env.ISTIO_PROMETHEUS_ANNOTATIONS;
  if (!raw) return null;
  try {
    const a = JSON.parse(raw) as { scrape?: string; path?: string; port?: string };
    if (a.scrape === 'false' || !a.port) return null;
    return `http://127.0.0.1:${a.port}${a.path || '/metrics'}`;
  } catch {
    return null;
  }
}

/** Sources of a metrics endpoint: text producers, called on each scrape. */
export type Exposition = () => string;

/** Fetches the app's metrics (text), '' when it cannot be had within `timeoutMs`. */
export async function scrapeApp(url: string, timeoutMs = 5000): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return '';
    return await res.text();
  } catch {
    return '';
  }
}

/** The 15090 handler: `/stats/prometheus` with the given expositions merged. */
export function prometheusHandler(sources: readonly Exposition[]): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/stats/prometheus' && path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(mergeExpositions(sources.map((s) => s())));
  };
}

/** The 15020 handler: `/stats/prometheus` merging the proxy's, the agent's and the app's metrics, and `/app-health/...` probe forwarding. */
export function mergedMetricsHandler(o: { proxy: readonly Exposition[]; appUrl: string | null; appTimeoutMs?: number; appProbers?: ReadonlyMap<string, AppProber> }): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (o.appProbers && handleAppHealth(o.appProbers, path, res)) return;
    if (path !== '/stats/prometheus') {
      res.writeHead(404).end();
      return;
    }
    const own = o.proxy.map((s) => s());
    const app = o.appUrl ? scrapeApp(o.appUrl, o.appTimeoutMs) : Promise.resolve('');
    void app.then((text) => {
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(mergeExpositions([...own, text]));
    });
  };
}

/** Listens with `handler` on `host:port` (port 0 for tests); resolves the server and its port. */
export function listenMetrics(handler: http.RequestListener, host: string, port: number): Promise<{ server: http.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
