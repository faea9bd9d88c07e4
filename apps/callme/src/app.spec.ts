import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { createApp } from './app';

describe('callme', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createApp({ version: 'v2' }, pino({ level: 'silent' })).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('answers ping with its name and version', async () => {
    const res = await fetch(`${base}/callme/ping`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('callme-service:v2');
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(await res.json()).toEqual({ status: 'ok', version: 'v2' });
  });

  it('answers 404 for unknown paths', async () => {
    const res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
  });
});
