import express, { type Express } from 'express';
import type { Logger } from 'pino';

/** The URL caller uses by default: the plain Kubernetes service name, no mesh awareness. */
export const DEFAULT_CALLME_URL = 'http://callme-service:8091/callme/ping';

/** Request headers copied onto the outgoing call, so traces and request ids follow the call. */
const FORWARDED_HEADERS = [
  'x-request-id', 'traceparent', 'tracestate', 'b3',
  'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags',
];

/** Settings of the caller service. */
export interface CallerConfig {
  /** Version reported in every answer (`VERSION`). */
  version: string;
  /** Where callme answers (`CALLME_URL`). */
  callmeUrl: string;
  /** Time limit for the call to callme, in milliseconds. */
  timeoutMs: number;
}

/** The caller HTTP app: `GET /caller/ping` calls callme and reports both versions; `/healthz` for probes. */
export function createApp(config: CallerConfig, log: Logger): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const start = performance.now();
    res.on('finish', () => {
      log.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - start) }, 'request');
    });
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', version: config.version });
  });
  app.get('/caller/ping', async (req, res) => {
    const prefix = `caller-service:${config.version}. Calling... `;
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = req.get(name);
      if (value) headers[name] = value;
    }
    try {
      const upstream = await fetch(config.callmeUrl, { headers, signal: AbortSignal.timeout(config.timeoutMs) });
      const body = await upstream.text();
      if (!upstream.ok) {
        log.warn({ url: config.callmeUrl, status: upstream.status }, 'callme answered with an error');
      }
      res.status(upstream.ok ? 200 : upstream.status).type('text/plain').send(prefix + body);
    } catch (err) {
      const reason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
      log.warn({ url: config.callmeUrl, err: reason }, 'call to callme failed');
      res.status(502).type('text/plain').send(`${prefix}error: ${reason}`);
    }
  });
  app.use((req, res) => {
    res.status(404).type('text/plain').send(`not found: ${req.method} ${req.path}`);
  });
  return app;
}
