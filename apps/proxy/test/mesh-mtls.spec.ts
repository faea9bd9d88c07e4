/**
 * Two proxies with CA-issued workload certificates, as in the mesh: each proxy's agent gets its
 * certificate from the CA process with its service-account token; the client proxy's outbound
 * cluster is ISTIO_MUTUAL (SNI, Istio ALPN, the destination's SPIFFE ID), the server proxy's
 * inbound chain is STRICT mTLS with an AuthorizationPolicy. Telemetry runs on both sides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { SpanKind } from '@opentelemetry/api';
import {
  cluster, clusterLoadAssignment, downstreamTlsContext, ExtensionTypeUrl, httpConnectionManager, httpConnectionManagerMessage, listener, pack, route, sdsCommonTlsContext, tcpProxy, upstreamTlsContext,
  type Cluster, type HttpFilter,
} from '@tsmesh/xds';
import { Proxy } from '../src/agent/proxy';
import { bootstrap } from '../src/agent/bootstrap';
import { TelemetryRecorder } from '../src/telemetry/recorder';
import { ProxyTracer } from '../src/telemetry/tracing';
import { workloadInfo } from '../src/telemetry/workload';
import { startCa, type CaProcess } from './ca-process';
import { ControlPlane, NODE_ID, request, routes, until, upstream, type Upstream } from './harness';

const CALLER = 'spiffe://cluster.local/ns/shop/sa/caller';
const CALLME = 'spiffe://cluster.local/ns/shop/sa/callme';
const exporter = new InMemorySpanExporter();

let ca: CaProcess;
let cp: ControlPlane;
let client: Proxy;
let server: Proxy;
let app: Upstream;
let plain: Upstream;
let outMixedPort = 0;
let inPort = 0;
let outPort = 0;
let inTcpPort = 0;
let outTcpPort = 0;
let echo: net.Server;
let echoPort = 0;
const tunnels = new Set<net.Socket>();
let grpcServer: grpc.Server;
let grpcPort = 0;
let inGrpcPort = 0;
let outGrpcPort = 0;
let cancelled = 0;
const id = (b: Buffer) => b;
const svc: grpc.ServiceDefinition = {
  Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  Find: { path: '/test.Echo/Find', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  Hang: { path: '/test.Echo/Hang', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  Chat: { path: '/test.Echo/Chat', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};

async function meshProxy(sa: string, app: string): Promise<Proxy> {
  const tokenFile = join(ca.dir, `${sa}.jwt`);
  writeFileSync(tokenFile, await ca.mint('shop', sa));
  const boot = bootstrap('sidecar', {
    podName: `${app}-v1-5d8f9c7b6-abcde`, podNamespace: 'shop', ip: '127.0.0.1', serviceAccount: sa, nodeId: NODE_ID, discoveryAddress: `127.0.0.1:${cp.port}`,
    adminPort: '0', statusPort: '0', prometheusPort: '0', mergedMetricsPort: 'off', accessLog: 'off', labelsFile: '/nonexistent',
    caAddress: ca.address, caRootFile: ca.bundleFile, tokenFile,
  }, {});
  const p = new Proxy(boot, pino({ level: process.env.PROXY_TEST_LOG ?? 'silent' }));
  // telemetry with the workload's labels and an in-memory trace exporter
  const self = workloadInfo({ pod: boot.podName, namespace: 'shop', labels: { app, version: 'v1' }, serviceAccount: sa });
  p.telemetry.deps.recorder = new TelemetryRecorder(self);
  p.telemetry.deps.tracer = new ProxyTracer(self, { exporter, simple: true, samplingPercent: 100 });
  await p.start();
  return p;
}

/** An outbound listener whose connection manager terminates CONNECT (`connect_config`) into `clusterName`. */
function connectListener(clusterName: string) {
  const hcm = httpConnectionManagerMessage({ statPrefix: 'outbound_0.0.0.0_9443', routeConfig: routes('connect', [{ name: 'tunnel', match: { connect_matcher: {} }, route: { cluster: clusterName, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } }]) });
  hcm.upgrade_configs = [{ upgrade_type: 'CONNECT' }];
  return listener({ name: 'out_connect', address: '127.0.0.1', port: 0, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: pack(ExtensionTypeUrl.HttpConnectionManager, hcm) }] }] });
}

function istioMutual(sans: string[]) {
  return { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, upstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['istio-peer-exchange', 'istio'], spiffeIds: sans }), 'outbound_.8091_._.callme.shop.svc.cluster.local')) };
}

/** Istio's auto-mTLS sockets: `tlsMode: istio` endpoints get ISTIO_MUTUAL, every other endpoint plaintext. */
function autoMtls(sans: string[]) {
  return [
    { name: 'tlsMode-istio', match: { fields: { tlsMode: { stringValue: 'istio' } } }, transport_socket: istioMutual(sans) },
    { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: pack(ExtensionTypeUrl.RawBuffer, {}) } },
  ] as never;
}

/** A load assignment whose endpoints with `sidecar` carry the `tlsMode: istio` transport socket match metadata. */
function autoMtlsEndpoints(name: string, eps: { address: string; port: number; sidecar: boolean }[]) {
  const cla = clusterLoadAssignment(name, eps.filter((e) => e.port).map((e) => ({ address: e.address, port: e.port })));
  for (const lb of cla.endpoints?.[0]?.lb_endpoints ?? []) {
    const e = eps.find((x) => x.port === lb.endpoint?.address?.socket_address?.port_value);
    if (e?.sidecar) lb.metadata = { filter_metadata: { 'envoy.transport_socket_match': { fields: { tlsMode: { stringValue: 'istio' } } } } } as never;
  }
  return cla;
}

/** The config both proxies get (one node id): outbound listener + mTLS cluster, inbound STRICT chain with RBAC. */
function push(sans: string[]): string {
  const rbac: HttpFilter = { name: 'envoy.filters.http.rbac', typed_config: pack(ExtensionTypeUrl.HttpRbac, { rules: { action: 'ALLOW', policies: { 'ns[shop]-policy[callers]-rule[0]': { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: CALLER } } }] } } } }) };
  const inboundTls = { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['h2', 'http/1.1'] }), true)) };
  const out: Cluster = { ...cluster({ name: 'outbound|8091||callme.shop.svc.cluster.local' }), transport_socket: istioMutual(sans) };
  const outTcp: Cluster = { ...cluster({ name: 'outbound|9000||db.shop.svc.cluster.local' }), transport_socket: istioMutual(sans) };
  // gRPC: HTTP/2 on both hops, over the same mTLS
  const outGrpc: Cluster = { ...cluster({ name: 'outbound|9090||grpc.shop.svc.cluster.local', http2: true }), transport_socket: istioMutual(sans) };
  // Auto mTLS as the control plane builds it: one cluster, the socket chosen per endpoint.
  const mixed: Cluster = { ...cluster({ name: 'outbound|8092||mixed.shop.svc.cluster.local' }), transport_socket_matches: autoMtls(sans) };
  const meshOnly: Cluster = { ...cluster({ name: 'outbound|8093||meshonly.shop.svc.cluster.local' }), transport_socket_matches: autoMtls(sans) };
  const tcpRbac = { name: 'envoy.filters.network.rbac', typed_config: pack(ExtensionTypeUrl.NetworkRbac, { stat_prefix: 'tcp.inbound_9000', rules: { action: 'ALLOW', policies: { callers: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: CALLER } } }] } } } }) };
  return cp.push({
    listeners: [
      listener({ name: 'out_8091', address: '127.0.0.1', port: 0, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_8091', rdsName: '8091', upgradeWebsocket: true })] }] }),
      listener({
        name: 'in_8091', address: '127.0.0.1', port: 0, trafficDirection: 'INBOUND', listenerFilters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: pack(ExtensionTypeUrl.TlsInspector, {}) }],
        filterChains: [{ name: 'inbound_8091_mtls', filter_chain_match: { transport_protocol: 'tls' }, transport_socket: inboundTls, filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_8091', rdsName: 'inbound|8091', httpFilters: [rbac], upgradeWebsocket: true })] }],
      }),
      listener({ name: 'out_tcp', address: '127.0.0.1', port: 0, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [tcpProxy('outbound|9000||db.shop.svc.cluster.local', outTcp.name!)] }] }),
      listener({ name: 'in_tcp', address: '127.0.0.1', port: 0, trafficDirection: 'INBOUND', filterChains: [{ name: 'inbound_9000_mtls', transport_socket: inboundTls, filters: [tcpRbac as never, tcpProxy('inbound_0.0.0.0_9000', 'inbound|9000||')] }] }),
      connectListener(outTcp.name!),
      listener({ name: 'out_mixed', address: '127.0.0.1', port: 0, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_8092', rdsName: '8092' })] }] }),
      listener({ name: 'out_grpc', address: '127.0.0.1', port: 0, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_9090', rdsName: '9090' })] }] }),
      listener({ name: 'in_grpc', address: '127.0.0.1', port: 0, trafficDirection: 'INBOUND', filterChains: [{ name: 'inbound_9090_mtls', transport_socket: inboundTls, filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_9090', rdsName: 'inbound|9090', httpFilters: [rbac] })] }] }),
    ],
    routes: [
      routes('8091', [route({ name: 'default', match: { prefix: '/' }, cluster: out.name! })]),
      routes('inbound|8091', [route({ name: 'default', match: { prefix: '/' }, cluster: 'inbound|8091||' })]),
      routes('8092', [route({ name: 'mesh-only', match: { prefix: '/mesh-only' }, cluster: meshOnly.name! }), route({ name: 'default', match: { prefix: '/' }, cluster: mixed.name! })]),
      routes('9090', [route({ name: 'default', match: { prefix: '/' }, cluster: outGrpc.name! })]),
      routes('inbound|9090', [route({ name: 'default', match: { prefix: '/' }, cluster: 'inbound|9090||' })]),
    ],
    clusters: [out, cluster({ name: 'inbound|8091||' }), outTcp, cluster({ name: 'inbound|9000||' }), outGrpc, cluster({ name: 'inbound|9090||', http2: true }), mixed, meshOnly],
    endpoints: [
      clusterLoadAssignment(out.name!, inPort ? [{ address: '127.0.0.1', port: inPort }] : []), clusterLoadAssignment('inbound|8091||', [{ address: '127.0.0.1', port: app.port }]),
      clusterLoadAssignment(outTcp.name!, inTcpPort ? [{ address: '127.0.0.1', port: inTcpPort }] : []), clusterLoadAssignment('inbound|9000||', [{ address: '127.0.0.1', port: echoPort }]),
      clusterLoadAssignment(outGrpc.name!, inGrpcPort ? [{ address: '127.0.0.1', port: inGrpcPort }] : []), clusterLoadAssignment('inbound|9090||', [{ address: '127.0.0.1', port: grpcPort }]),
      autoMtlsEndpoints(mixed.name!, [{ address: '127.0.0.1', port: inPort, sidecar: true }, { address: '127.0.0.1', port: plain?.port ?? 0, sidecar: false }]),
      autoMtlsEndpoints(meshOnly.name!, [{ address: '127.0.0.1', port: inPort, sidecar: true }]),
    ],
  });
}

beforeAll(async () => {
  ca = await startCa();
  app = await upstream('callme');
  plain = await upstream('plain');
  // WebSocket handshakes: 101 then echo (what the app sees is recorded like any request)
  app.server.on('upgrade', (req: { url?: string }, socket: net.Socket) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    app.hits++;
    app.lastUrl = req.url ?? '';
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(`echo:${d}`));
    socket.on('error', () => socket.destroy());
  });
  echo = net.createServer((c) => c.on('data', (d) => c.write(d)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  grpcServer = new grpc.Server();
  grpcServer.addService(svc, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set('x-trailer', 'yes');
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), md);
    },
    Find: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'nope' }),
    Hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => call.on('cancelled', () => cancelled++),
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), m])));
      call.on('end', () => call.end());
    },
  });
  grpcPort = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  cp = new ControlPlane();
  await cp.start();
  push([CALLME]);
  [client, server] = await Promise.all([meshProxy('caller', 'caller'), meshProxy('callme', 'callme')]);
  await until(() => client.state() === 'LIVE' && server.state() === 'LIVE', 20_000, 'both proxies live with certificates');
  inPort = server.listeners.boundPort('in_8091')!;
  outPort = client.listeners.boundPort('out_8091')!;
  inTcpPort = server.listeners.boundPort('in_tcp')!;
  outTcpPort = client.listeners.boundPort('out_tcp')!;
  inGrpcPort = server.listeners.boundPort('in_grpc')!;
  outGrpcPort = client.listeners.boundPort('out_grpc')!;
  outMixedPort = client.listeners.boundPort('out_mixed')!;
  push([CALLME]);
  await until(async () => (await request(outPort, '/warm').catch(() => ({ status: 0 }))).status === 200, 20_000, 'mTLS route');
  exporter.reset();
}, 90_000);

afterAll(async () => {
  client?.stop();
  server?.stop();
  await cp?.close();
  for (const t of tunnels) t.destroy();
  await app?.close();
  await plain?.close();
  echo?.close();
  grpcServer?.forceShutdown();
  await ca?.stop();
});

describe('two proxies with CA-issued certificates', () => {
  it('auto mTLS: one cluster reaches the sidecar endpoint over mTLS (STRICT inbound) and the plain endpoint in plaintext, chosen per endpoint by EDS metadata', async () => {
    const bodies = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await request(outMixedPort, `/mixed/${i}`);
      expect(r.status, r.body).toBe(200);
      bodies.add(r.body.split(' ')[0]);
    }
    // "callme" came through the server proxy's STRICT mTLS chain (plaintext there is refused), "plain" straight from the plain app (TLS there fails).
    expect([...bodies].sort()).toEqual(['callme', 'plain']);
    expect(plain.lastHeaders['x-forwarded-client-cert']).toBeUndefined();
  });

  it('auto mTLS: a cluster with transport_socket_matches whose endpoints all run sidecars still speaks mTLS to each', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await request(outMixedPort, `/mesh-only/${i}`);
      expect(r.status, r.body).toBe(200);
      expect(r.body).toContain(`callme GET /mesh-only/${i}`);
    }
  });

  it('a request crosses mutual TLS 1.3; the server proxy authorizes the client\'s SPIFFE ID', async () => {
    const r = await request(outPort, '/callme/ping', { headers: { host: 'callme.shop.svc.cluster.local:8091' } });
    expect(r.status).toBe(200);
    expect(r.body).toContain('callme GET /callme/ping');
    // the metadata exchange's headers are the proxies' own: neither the client nor the app sees them
    for (const h of ['x-envoy-peer-metadata', 'x-envoy-peer-metadata-id']) {
      expect(r.headers[h]).toBeUndefined();
      expect(app.lastHeaders[h]).toBeUndefined();
    }
  });

  it('each side records Istio metrics with the other side\'s identity', async () => {
    await until(() => /reporter="destination"/.test(server.telemetry.deps.recorder.metrics.registry.expose()), 5000, 'server metrics');
    const inbound = server.telemetry.deps.recorder.metrics.registry.expose();
    expect(inbound).toMatch(/istio_requests_total\{reporter="destination",source_workload="caller-v1",source_workload_namespace="shop",source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/caller",source_app="caller"[^}]*destination_workload="callme-v1"[^}]*destination_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/callme"[^}]*response_code="200"[^}]*connection_security_policy="mutual_tls"\}/);
    const outbound = client.telemetry.deps.recorder.metrics.registry.expose();
    expect(outbound).toMatch(/istio_requests_total\{reporter="source",source_workload="caller-v1"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/caller"[^}]*destination_workload="callme-v1"[^}]*destination_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/callme"[^}]*destination_service="callme\.shop\.svc\.cluster\.local"[^}]*response_code="200"/);
  });

  it('one trace holds the client proxy\'s CLIENT span and the server proxy\'s SERVER span', async () => {
    exporter.reset();
    await request(outPort, '/traced', { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    await until(() => exporter.getFinishedSpans().length >= 2, 5000, 'spans');
    const spans = exporter.getFinishedSpans();
    const c = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const s = spans.find((x) => x.kind === SpanKind.SERVER)!;
    expect(c.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(s.parentSpanContext?.spanId).toBe(c.spanContext().spanId);
    expect(c.resource.attributes['service.name']).toBe('caller.shop');
    expect(s.resource.attributes['service.name']).toBe('callme.shop');
    // the app gets the server proxy's SERVER span as its parent (to pass on to its own calls)
    expect(app.lastHeaders.traceparent).toBe(`00-0af7651916cd43dd8448eb211c80319c-${s.spanContext().spanId}-01`);
  });

  it('STRICT: plaintext to the server proxy\'s inbound port is refused', async () => {
    const out = await new Promise<string>((resolve) => {
      const s = net.connect(inPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
    });
    expect(out).toBe('');
  });

  it('a destination whose SPIFFE ID is not the one listed is refused (503, no request reaches the app)', async () => {
    const hits = app.hits;
    const v = push(['spiffe://cluster.local/ns/shop/sa/someone-else']);
    await until(() => client.xds.dump().get('type.googleapis.com/envoy.config.cluster.v3.Cluster' as never)?.version === v, 5000, 'new clusters');
    const r = await request(outPort, '/callme/ping');
    expect(r.status).toBe(503);
    // a WebSocket handshake takes the same transport socket: refused the same way
    const ws = await new Promise<string>((resolve) => {
      const s = net.connect(outPort, '127.0.0.1', () => s.write('GET /ws HTTP/1.1\r\nhost: callme\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n'));
      let text = '';
      s.on('data', (d) => {
        text += d;
        if (/\r\n\r\n/.test(text)) s.destroy();
      });
      s.on('close', () => resolve(text));
      s.on('error', () => resolve(text));
    });
    expect(ws).toMatch(/^HTTP\/1\.1 503 /);
    expect(app.hits).toBe(hits);
    push([CALLME]);
    await until(async () => (await request(outPort, '/again')).status === 200, 10_000, 'restored');
  });

  it('a WebSocket upgrade crosses mutual TLS to the peer proxy (STRICT + RBAC) and becomes a tunnel on 101', async () => {
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(outPort, '127.0.0.1', () => s.write('GET /ws HTTP/1.1\r\nhost: callme.shop.svc.cluster.local:8091\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
      let text = '';
      s.on('data', (d) => {
        text += d;
        if (/\r\n\r\n/.test(text) && !text.includes('echo:')) s.write('over mtls');
        if (text.includes('echo:over mtls')) {
          s.destroy();
          resolve(text);
        }
      });
      s.on('error', () => resolve(text));
      s.on('close', () => resolve(text));
      setTimeout(() => { s.destroy(); resolve(text); }, 5000);
    });
    expect(got).toMatch(/^HTTP\/1\.1 101 /);
    expect(got).toContain('echo:over mtls');
    expect(app.lastUrl).toBe('/ws');
  });

  it('TCP over mTLS: bytes cross, the network RBAC checks the client identity, TCP metrics on both sides', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(outTcpPort, '127.0.0.1', () => c.write('ping over tcp'));
      c.once('data', (d) => {
        c.end();
        resolve(String(d));
      });
      c.on('error', reject);
    });
    expect(reply).toBe('ping over tcp');
    await until(() => /istio_tcp_connections_closed_total\{reporter="destination"/.test(server.telemetry.deps.recorder.metrics.registry.expose()), 5000, 'tcp metrics');
    expect(server.telemetry.deps.recorder.metrics.registry.expose()).toMatch(/istio_tcp_received_bytes_total\{reporter="destination",[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/caller"[^}]*connection_security_policy="mutual_tls"\} \d+/);
    await until(() => /istio_tcp_sent_bytes_total\{reporter="source"/.test(client.telemetry.deps.recorder.metrics.registry.expose()), 5000, 'client tcp metrics');
    expect(client.telemetry.deps.recorder.metrics.registry.expose()).toMatch(/istio_tcp_connections_opened_total\{reporter="source",[^}]*destination_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/callme"[^}]*destination_service="db\.shop\.svc\.cluster\.local"/);
  });

  it('gRPC over HTTP/2 on both hops and mTLS: trailers, trailers-only status, deadlines and bidi streaming', async () => {
    const Client = grpc.makeGenericClientConstructor(svc, 'Echo');
    const c = new Client(`127.0.0.1:${outGrpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => grpc.ClientDuplexStream<Buffer, Buffer>>;
    const unary = (m: string, deadline?: number) => new Promise<{ err: grpc.ServiceError | null; res?: Buffer; trailers?: grpc.Metadata }>((resolve) => {
      let trailers: grpc.Metadata | undefined;
      const call = c[m](Buffer.from('hi'), new grpc.Metadata(), deadline ? { deadline: Date.now() + deadline } : {}, (err: grpc.ServiceError | null, res?: Buffer) => setImmediate(() => resolve({ err, res, trailers })));
      (call as unknown as NodeJS.EventEmitter).on('status', (st: grpc.StatusObject) => (trailers = st.metadata));
    });
    const ok = await unary('Echo');
    expect(ok.err).toBeNull();
    expect(ok.res?.toString()).toBe('echo:hi');
    expect(ok.trailers?.get('x-trailer')).toEqual(['yes']);
    const nf = await unary('Find');
    expect(nf.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.err?.details).toBe('nope');
    const t0 = Date.now();
    const hung = await unary('Hang', 300);
    expect(hung.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(3000);
    // the cancellation crossed both proxies to the server
    await until(() => cancelled > 0, 5000, 'server saw the cancel');
    const chat = c.Chat();
    const got: string[] = [];
    chat.on('data', (m: Buffer) => got.push(m.toString()));
    const ended = new Promise((r) => chat.on('end', r));
    chat.on('error', () => undefined);
    for (const m of ['a', 'b', 'c']) chat.write(Buffer.from(m));
    chat.end();
    await ended;
    expect(got).toEqual(['re:a', 're:b', 're:c']);
    c.close();
    await until(() => /istio_requests_total\{reporter="destination"[^}]*request_protocol="grpc"[^}]*grpc_response_status="5"/.test(server.telemetry.deps.recorder.metrics.registry.expose()), 5000, 'gRPC metrics');
    expect(client.telemetry.deps.recorder.metrics.registry.expose()).toMatch(/istio_requests_total\{reporter="source"[^}]*destination_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/callme"[^}]*request_protocol="grpc"[^}]*grpc_response_status="0"/);
  });

  it('a CONNECT terminated by the client proxy tunnels over the cluster\'s mTLS to the peer (network RBAC by SPIFFE ID)', async () => {
    const port = client.listeners.boundPort('out_connect')!;
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('CONNECT db.shop.svc.cluster.local:9000 HTTP/1.1\r\nHost: db.shop.svc.cluster.local:9000\r\n\r\n'));
      let text = '';
      s.on('data', (d) => {
        text += d;
        if (text === 'HTTP/1.1 200 OK\r\n\r\n') s.write('through the tunnel');
        if (text.includes('through the tunnel')) {
          s.destroy();
          resolve(text);
        }
      });
      s.on('error', () => resolve(text));
      s.on('close', () => resolve(text));
      setTimeout(() => { s.destroy(); resolve(text); }, 5000);
    });
    expect(got).toBe('HTTP/1.1 200 OK\r\n\r\nthrough the tunnel');
    await until(() => /istio_tcp_connections_opened_total\{reporter="destination",[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/caller"/.test(server.telemetry.deps.recorder.metrics.registry.expose()), 5000, 'the peer saw the caller over mTLS');
  });
});
