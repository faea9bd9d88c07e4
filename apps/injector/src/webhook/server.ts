import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createServer, type Server } from 'node:https';
import type { Logger } from 'pino';
import { CertificateWatcher, loadKeyPair } from './certs';
import { errorReview, handleReview, type ReviewDeps } from './review';
import { InjectorMetrics } from './metrics';

/**
 * The webhook's HTTP routes: `POST /inject` (and `/inject/…`, as Istio serves), `GET /healthz`,
 * `GET /ready`, `GET /metrics` (Prometheus text: `sidecar_injection_*` and process metrics).
 */
export function createWebhookApp(deps: ReviewDeps, log: Logger, maxBodyBytes = 10 * 1024 * 1024): Express {
  const app = express();
  app.disable('x-powered-by');
  const metrics = deps.metrics ?? new InjectorMetrics();
  deps = { ...deps, metrics };
  app.get(['/healthz', '/ready'], (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.expose());
  });
  app.post(['/inject', '/inject/*rest'], express.text({ type: () => true, limit: maxBodyBytes }), async (req: Request, res: Response) => {
    const contentType = req.get('content-type') ?? '';
    if (!/^application\/json\b/i.test(contentType)) {
      metrics.record('failure', 'decode');
      return void res.status(415).json(errorReview('', 415, `malformed AdmissionReview: content-type must be application/json, got "${contentType}"`, 'UnsupportedMediaType'));
    }
    const text = typeof req.body === 'string' ? req.body : '';
    if (text.trim() === '') {
      metrics.record('failure', 'decode');
      return void res.status(400).json(errorReview('', 400, 'malformed AdmissionReview: empty body'));
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      metrics.record('failure', 'decode');
      return void res.status(400).json(errorReview('', 400, `malformed AdmissionReview: invalid JSON: ${(err as Error).message}`));
    }
    const { review } = await handleReview(body, deps);
    res.json(review);
  });
  app.use((req, res) => {
    res.status(404).json({ error: `not found: ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; type?: string; message?: string };
    if (e.type === 'entity.too.large') return void res.status(413).json(errorReview('', 413, `malformed AdmissionReview: body larger than ${maxBodyBytes} bytes`, 'RequestEntityTooLarge'));
    log.error({ err }, 'webhook request failed');
    res.status(e.status ?? 500).json(errorReview('', e.status ?? 500, `webhook error: ${e.message ?? String(err)}`, 'InternalError'));
  });
  return app;
}

/** Options of the HTTPS webhook server. */
export interface WebhookServerOptions {
  certFile: string;
  keyFile: string;
  port: number;
  host?: string;
  /** How often to look for a rotated certificate, in milliseconds. */
  certCheckIntervalMs: number;
  /** Called after a rotated certificate is in use. */
  onReload?: () => void;
}

/** A running webhook: the HTTPS server and its certificate watcher. */
export interface WebhookServer {
  server: Server;
  port: number;
  /** Checks the certificate files now (the watcher does it on its own interval too). */
  reloadNow(): void;
  close(): Promise<void>;
}

/** Starts the webhook over HTTPS, reloading the serving certificate when its files change. */
export async function startWebhookServer(deps: ReviewDeps, options: WebhookServerOptions, log: Logger): Promise<WebhookServer> {
  const pair = loadKeyPair(options.certFile, options.keyFile);
  const server = createServer({ ...pair, minVersion: 'TLSv1.2' }, createWebhookApp(deps, log));
  const watcher = new CertificateWatcher(
    options.certFile,
    options.keyFile,
    (next) => {
      server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
      log.info({ certFile: options.certFile }, 'serving certificate reloaded');
      options.onReload?.();
    },
    (err) => log.warn({ err: err.message }, 'serving certificate changed but could not be loaded; keeping the previous one'),
  ).start(options.certCheckIntervalMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : options.port,
    reloadNow: () => watcher.check(),
    close: () =>
      new Promise<void>((resolve) => {
        watcher.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
