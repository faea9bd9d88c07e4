import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { renderPage } from './page';
import { TodoInputError, TodoStore } from './store';

/** The versions todolist knows; v2 shows a banner. */
export const VERSIONS = ['v1', 'v2'] as const;
/** One of {@link VERSIONS}. */
export type Version = (typeof VERSIONS)[number];

/** Settings of the todolist app. */
export interface TodolistConfig {
  /** `VERSION`: v1 or v2. Sent as the `x-version` header on every answer. */
  version: Version;
  /** Shown in the page footer, so a person sees which replica answered. */
  hostname?: string;
}

/** The todolist HTTP app: HTML page on `/`, JSON API under `/api/todos`, `/healthz` for probes. */
export function createApp(config: TodolistConfig, log: Logger, store = new TodoStore()): Express {
  const app = express();
  const host = config.hostname ?? hostname();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const start = performance.now();
    res.setHeader('x-version', config.version);
    res.on('finish', () => {
      log.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - start) }, 'request');
    });
    next();
  });
  app.use(express.json({ limit: '16kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', version: config.version });
  });
  app.get('/', (_req, res) => {
    res.type('html').send(renderPage(config.version, host));
  });
  app.get('/api/version', (_req, res) => {
    res.json({ version: config.version, hostname: host });
  });
  app.get('/api/todos', (_req, res) => {
    res.json(store.list());
  });
  app.post('/api/todos', (req, res) => {
    res.status(201).json(store.add(req.body));
  });
  app.get('/api/todos/:id', (req, res) => {
    const todo = store.get(Number(req.params.id));
    if (!todo) return void res.status(404).json({ error: `todo ${req.params.id} not found` });
    res.json(todo);
  });
  app.patch('/api/todos/:id', (req, res) => {
    const todo = store.update(Number(req.params.id), req.body ?? {});
    if (!todo) return void res.status(404).json({ error: `todo ${req.params.id} not found` });
    res.json(todo);
  });
  app.delete('/api/todos/:id', (req, res) => {
    if (!store.remove(Number(req.params.id))) return void res.status(404).json({ error: `todo ${req.params.id} not found` });
    res.status(204).end();
  });
  app.use((req, res) => {
    res.status(404).json({ error: `not found: ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof TodoInputError) return void res.status(400).json({ error: err.message, field: err.field });
    const e = err as { status?: number; type?: string; message?: string };
    if (e.type === 'entity.parse.failed') return void res.status(400).json({ error: `body: invalid JSON: ${e.message}` });
    if (typeof e.status === 'number' && e.status < 500) return void res.status(e.status).json({ error: e.message });
    log.error({ err }, 'unexpected error');
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}
