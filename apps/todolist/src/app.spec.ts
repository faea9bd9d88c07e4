import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { createApp, type Version } from './app';

async function start(version: Version): Promise<{ server: Server; base: string }> {
  const server = createApp({ version, hostname: 'test-host' }, pino({ level: 'silent' })).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('todolist', () => {
  let v1: { server: Server; base: string };
  let v2: { server: Server; base: string };
  beforeAll(async () => {
    v1 = await start('v1');
    v2 = await start('v2');
  });
  afterAll(async () => {
    await Promise.all([v1, v2].map(({ server }) => new Promise<void>((r) => server.close(() => r()))));
  });

  it('serves the page; v2 has a banner and its own x-version', async () => {
    const r1 = await fetch(`${v1.base}/`);
    const r2 = await fetch(`${v2.base}/`);
    expect(r1.headers.get('content-type')).toMatch(/text\/html/);
    expect(r1.headers.get('x-version')).toBe('v1');
    expect(r2.headers.get('x-version')).toBe('v2');
    const p1 = await r1.text();
    const p2 = await r2.text();
    expect(p1).not.toContain('data-testid="banner"');
    expect(p2).toContain('data-testid="banner"');
    expect(p2).toContain('test-host');
  });

  it('adds, lists, updates and deletes todos over the JSON API', async () => {
    const created = await fetch(`${v1.base}/api/todos`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: ' buy milk ' }),
    });
    expect(created.status).toBe(201);
    const todo = (await created.json()) as { id: number; title: string; done: boolean };
    expect(todo).toMatchObject({ title: 'buy milk', done: false });
    const patched = await fetch(`${v1.base}/api/todos/${todo.id}`, {
      method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ done: true }),
    });
    expect(await patched.json()).toMatchObject({ id: todo.id, done: true });
    expect(await (await fetch(`${v1.base}/api/todos`)).json()).toHaveLength(1);
    expect((await fetch(`${v1.base}/api/todos/${todo.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${v1.base}/api/todos/${todo.id}`)).status).toBe(404);
  });

  it('refuses bad input naming the field and reason', async () => {
    const empty = await fetch(`${v1.base}/api/todos`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: '' }),
    });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toEqual({ error: 'title: must be a non-empty string', field: 'title' });
    const broken = await fetch(`${v1.base}/api/todos`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).toMatch(/^body: invalid JSON/);
  });

  it('answers /healthz and /api/version', async () => {
    expect(await (await fetch(`${v2.base}/healthz`)).json()).toEqual({ status: 'ok', version: 'v2' });
    expect(await (await fetch(`${v2.base}/api/version`)).json()).toEqual({ version: 'v2', hostname: 'test-host' });
  });
});
