import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { createApp, DEFAULT_CALLME_URL } from './app';

const silent = pino({ level: 'silent' });

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}
const close = (server: Server) => new Promise<void>((r) => server.close(() => r()));

describe('caller', () => {
  let callme: Server;
  let callmeBase: string;
  let seenHeaders: Record<string, string | string[] | undefined> = {};
  beforeAll(async () => {
    callme = createServer((req, res) => {
      seenHeaders = req.headers;
      if (req.url === '/callme/ping') {
        res.end('callme-service:v2');
      } else {
        res.statusCode = 503;
        res.end('unavailable');
      }
    });
    callmeBase = await listen(callme);
  });
  afterAll(() => close(callme));

  it('calls the plain service name by default', () => {
    expect(DEFAULT_CALLME_URL).toBe('http://callme-service:8091/callme/ping');
  });

  it('calls callme and reports both versions, forwarding trace headers', async () => {
    const server = createApp({ version: 'v1', callmeUrl: `${callmeBase}/callme/ping`, timeoutMs: 2000 }, silent).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const res = await fetch(`${base}/caller/ping`, { headers: { 'x-request-id': 'abc', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('caller-service:v1. Calling... callme-service:v2');
    expect(seenHeaders['x-request-id']).toBe('abc');
    expect(seenHeaders.traceparent).toMatch(/^00-0af7/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await close(server);
  });

  it('passes on an upstream error status', async () => {
    const server = createApp({ version: 'v1', callmeUrl: `${callmeBase}/other`, timeoutMs: 2000 }, silent).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/caller/ping`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('caller-service:v1. Calling... unavailable');
    await close(server);
  });

  it('answers 502 naming the failure when callme is unreachable', async () => {
    const closed = createServer();
    const closedBase = await listen(closed);
    await close(closed);
    const server = createApp({ version: 'v1', callmeUrl: `${closedBase}/callme/ping`, timeoutMs: 2000 }, silent).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/caller/ping`);
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/^caller-service:v1\. Calling\.\.\. error: .*ECONNREFUSED/);
    await close(server);
  });
});
