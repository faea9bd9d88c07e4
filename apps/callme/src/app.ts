import express, { type Express } from 'express';
import type { Logger } from 'pino';

/** Settings of the callme service. */
export interface CallmeConfig {
  /** Version reported in every answer (`VERSION`). */
  version: string;
}

/** The callme HTTP app: `GET /callme/ping` answers `callme-service:<version>`; `/healthz` for probes. */
export function createApp(config: CallmeConfig, log: Logger): Express {
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
  app.get('/callme/ping', (_req, res) => {
    res.type('text/plain').send(`callme-service:${config.version}`);
  });
  app.use((req, res) => {
    res.status(404).type('text/plain').send(`not found: ${req.method} ${req.path}`);
  });
  return app;
}
