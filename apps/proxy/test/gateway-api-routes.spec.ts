/**
 * Gateway API route features through the real proxy, with the route table the control plane
 * translates from HTTPRoute and GRPCRoute resources (the `http.8080` table of its golden output
 * apps/control-plane/testdata/golden/gateway-api-routes.gateway.json, replayed unchanged over ADS;
 * only the clusters point at local servers): the CORS filter (preflight answered here, headers on
 * actual responses), retry on a status code (an upstream that fails once, then succeeds), the
 * per-try timeout of timeouts.backendRequest (a slow first try cut and retried), one try when
 * attempts is 0, and a GRPCRoute's service / method / header matches with a grpc-js client.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECODE_OPTIONS, ExtensionTypeUrl, messageType, pack, type RouteConfiguration } from '@tsmesh/xds';
import type { Proxy } from '../src/agent/proxy';
import { ControlPlane, startProxy, upstream, httpListener, edsCluster, applied, request, until, type Upstream } from './harness';

const GOLDEN = resolve(import.meta.dirname, '../../control-plane/testdata/golden/gateway-api-routes.gateway.json');

/** The control plane's `http.8080` route table, as a message the ADS server encodes. */
function translatedRoutes(): RouteConfiguration {
  const d = JSON.parse(readFileSync(GOLDEN, 'utf8')) as { RDS: Record<string, unknown>[] };
  const { '@type': _t, ...rc } = d.RDS.find((r) => r.name === 'http.8080')!;
  const t = messageType('envoy.config.route.v3.RouteConfiguration');
  return t.toObject(t.fromObject({ ...rc, name: '80' }), { ...DECODE_OPTIONS, oneofs: false }) as unknown as RouteConfiguration;
}

const id = (b: Buffer) => b;
const say = (name: string): grpc.UntypedServiceImplementation => ({
  Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`${name}:${call.request.toString()}`)),
  Ping: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`${name}:pong`)),
});
const method = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });

async function grpcServer(name: string, services: string[]): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  for (const service of services) server.addService({ Say: method(`/${service}/Say`), Ping: method(`/${service}/Ping`) }, say(name));
  const port = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  return { server, port };
}

describe('Gateway API routes through the proxy (the control plane\'s translation)', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  let web: Upstream;
  const tries = new Map<string, number>();
  const servers: grpc.Server[] = [];

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    web = await upstream('web', (req, res) => {
      const key = String(req.headers['x-key'] ?? req.url);
      const n = (tries.get(key) ?? 0) + 1;
      tries.set(key, n);
      // /flaky*: 503 on the first try of each key; /slow* and /once*: the first try takes 1.5 s.
      if (req.url!.startsWith('/flaky') && n === 1) { res.writeHead(503).end('try again'); return; }
      const delay = (req.url!.startsWith('/slow') || req.url!.startsWith('/once')) && n === 1 ? 1500 : 0;
      setTimeout(() => { if (!res.destroyed) res.writeHead(200, { 'x-trace': 't1' }).end(`web try ${n}`); }, delay);
    });
    const v1 = await grpcServer('v1', ['echo.Echo']);
    const v2 = await grpcServer('v2', ['echo.Echo', 'other.Svc']);
    servers.push(v1.server, v2.server);
    const cw = edsCluster('outbound|8080||web.default.svc.cluster.local', [web.port]);
    const c1 = edsCluster('outbound|9000||echo-v1.default.svc.cluster.local', [v1.port], { http2: true });
    const c2 = edsCluster('outbound|9000||echo-v2.default.svc.cluster.local', [v2.port], { http2: true });
    const v = cp.push({
      listeners: [httpListener('http', '80', [
        { name: 'envoy.filters.http.cors', typed_config: pack(ExtensionTypeUrl.Cors, {}) },
        { name: 'envoy.filters.http.fault', typed_config: pack(ExtensionTypeUrl.HttpFault, {}) },
      ])],
      routes: [translatedRoutes()],
      clusters: [cw.c, c1.c, c2.c],
      endpoints: [cw.e, c1.e, c2.e],
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
    expect(cp.nacks).toEqual([]);
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await web?.close();
    for (const s of servers) s.forceShutdown();
  });

  describe('CORS filter', () => {
    it('answers a preflight from an allowed origin itself, with the policy\'s headers', async () => {
      const before = web.hits;
      const r = await request(port, '/cors/items', { method: 'OPTIONS', headers: { origin: 'https://shop.example.org', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-user' } });
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBe('https://shop.example.org');
      expect(r.headers['access-control-allow-methods']).toBe('GET,PUT');
      expect(r.headers['access-control-allow-headers']).toBe('x-user');
      expect(r.headers['access-control-max-age']).toBe('600');
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(web.hits).toBe(before);
    });

    it('a preflight from another origin gets no CORS headers and is not forwarded', async () => {
      const before = web.hits;
      const r = await request(port, '/cors', { method: 'OPTIONS', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'PUT' } });
      expect(r.status).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(r.headers['access-control-allow-methods']).toBeUndefined();
      expect(web.hits).toBe(before);
    });

    it('an actual request from an allowed origin reaches the upstream and gets allow-origin, credentials and exposed headers', async () => {
      const r = await request(port, '/cors', { headers: { origin: 'https://app.example.com', 'x-key': 'cors-1' } });
      expect(r.status).toBe(200);
      expect(r.body).toBe('web try 1');
      expect(r.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(r.headers['access-control-allow-credentials']).toBe('true');
      expect(r.headers['access-control-expose-headers']).toBe('x-trace');
    });

    it('other origins, no Origin, and routes without a policy get no CORS headers', async () => {
      const other = await request(port, '/cors', { headers: { origin: 'https://app.example.net', 'x-key': 'cors-2' } });
      expect(other.status).toBe(200);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      const none = await request(port, '/cors', { headers: { 'x-key': 'cors-3' } });
      expect(none.headers['access-control-allow-origin']).toBeUndefined();
      const elsewhere = await request(port, '/flaky', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'x-key': 'cors-4' } });
      expect(elsewhere.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('retry and timeouts', () => {
    it('retry codes: an upstream that answers 503 once, then 200, is retried and the client sees 200', async () => {
      const r = await request(port, '/flaky/x', { headers: { 'x-key': 'flaky-1' } });
      expect(r.status).toBe(200);
      expect(r.body).toBe('web try 2');
      expect(tries.get('flaky-1')).toBe(2);
    });

    it('timeouts.backendRequest: a first try slower than the per-try timeout is cut and retried, well within the request timeout', async () => {
      const t0 = Date.now();
      const r = await request(port, '/slow', { headers: { 'x-key': 'slow-1' } });
      const ms = Date.now() - t0;
      expect(r.status).toBe(200);
      expect(r.body).toBe('web try 2');
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(1400);
    });

    it('attempts 0: one try, cut at the backendRequest timeout (504)', async () => {
      const t0 = Date.now();
      const r = await request(port, '/once', { headers: { 'x-key': 'once-1' } });
      expect(r.status).toBe(504);
      expect(Date.now() - t0).toBeLessThan(1400);
      await until(() => (tries.get('once-1') ?? 0) === 1, 2000, 'the one try');
      await new Promise((res) => setTimeout(res, 100));
      expect(tries.get('once-1')).toBe(1);
    });
  });

  describe('GRPCRoute with a grpc-js client', () => {
    const call = (client: grpc.Client, path: string, md: Record<string, string> = {}) => new Promise<string>((res, rej) => {
      const m = new grpc.Metadata();
      for (const [k, v] of Object.entries(md)) m.set(k, v);
      client.makeUnaryRequest(path, id, id, Buffer.from('hi'), m, (err, out) => (err ? rej(err) : res(out!.toString())));
    });

    it('service and method with a header match go to v2, the service alone to v1, a method of any service by the method-only match', async () => {
      const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      try {
        expect(await call(client, '/echo.Echo/Say')).toBe('v1:hi');
        expect(await call(client, '/echo.Echo/Say', { 'x-user': 'canary' })).toBe('v2:hi');
        expect(await call(client, '/echo.Echo/Ping')).toBe('v1:pong');
        // /other.Svc/Ping: only the method-only match (`/[^/]+/Ping`) → echo-v2.
        expect(await call(client, '/other.Svc/Ping')).toBe('v2:pong');
        // No route at all: the proxy answers UNIMPLEMENTED itself (HTTP 404 as gRPC status 12).
        const none = await call(client, '/other.Svc/Say').then(() => null, (e: grpc.ServiceError) => e);
        expect(none?.code).toBe(grpc.status.UNIMPLEMENTED);
      } finally {
        client.close();
      }
    });
  });
});
