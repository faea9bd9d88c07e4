import { afterAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { SpanKind } from '@opentelemetry/api';
import { ISTIO_REQUEST_LABELS, ISTIO_TCP_LABELS, Registry } from '@tsmesh/telemetry';
import { decodePeerMetadata, encodePeerMetadata, workloadFromPod, workloadInfo, PEER_METADATA_HEADER } from './workload';
import { TelemetryRecorder } from './recorder';
import { listenMetrics, mergedMetricsHandler, prometheusHandler, appScrapeTarget } from './endpoints';
import { inboundServiceHost } from './layer';
import { AccessLogger, accessLogTarget, formatAccessLog, type AccessLogEntry } from './access-log';
import { ProxyTracer } from './tracing';

const servers: http.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

const caller = workloadInfo({ pod: 'caller-v1-5d8f9c7b6-abcde', namespace: 'shop', labels: { app: 'caller', version: 'v1' }, serviceAccount: 'caller' });
const callme = workloadInfo({ pod: 'callme-v2-7f6d5c4b3-zyxwv', namespace: 'shop', labels: { app: 'callme', version: 'v2' }, serviceAccount: 'callme' });

/** Parses Prometheus text into samples. */
function parse(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function get(url: string): Promise<string> {
  return (await fetch(url)).text();
}

describe('peer metadata exchange', () => {
  it('round-trips a workload through the x-envoy-peer-metadata value', () => {
    const v = encodePeerMetadata(caller);
    expect(decodePeerMetadata(v)).toEqual(caller);
    expect(decodePeerMetadata('not base64 protobuf!')).toBeNull();
    expect(workloadFromPod('callme-v2-7f6d5c4b3-zyxwv')).toBe('callme-v2');
    expect(workloadFromPod('db-0')).toBe('db');
  });
});

describe('Istio metrics', () => {
  it('both sides of a request, scraped from 15090 and parsed with Istio\'s label set', async () => {
    const client = new TelemetryRecorder(caller);
    const server = new TelemetryRecorder(callme);
    const common = { destinationService: 'callme.shop.svc.cluster.local', protocol: 'http', responseCode: 200, grpcStatus: '', responseFlags: '-', durationMs: 3.2, requestBytes: 10, responseBytes: 120 };
    for (let i = 0; i < 3; i++) {
      client.request({ ...common, side: 'outbound', peer: decodePeerMetadata(encodePeerMetadata(callme)), peerPrincipal: callme.principal, mtls: true });
      server.request({ ...common, side: 'inbound', peer: decodePeerMetadata(encodePeerMetadata(caller)), peerPrincipal: caller.principal, mtls: true });
    }
    const samples: ReturnType<typeof parse> = [];
    for (const r of [client, server]) {
      const { server: srv, port } = await listenMetrics(prometheusHandler([() => r.metrics.registry.expose()]), '127.0.0.1', 0);
      servers.push(srv);
      samples.push(...parse(await get(`http://127.0.0.1:${port}/stats/prometheus`)));
    }
    const totals = samples.filter((s) => s.name === 'istio_requests_total');
    expect(totals).toHaveLength(2);
    for (const t of totals) expect(Object.keys(t.labels).sort()).toEqual([...ISTIO_REQUEST_LABELS].sort());
    const src = totals.find((t) => t.labels.reporter === 'source')!;
    const dst = totals.find((t) => t.labels.reporter === 'destination')!;
    const expected = {
      source_workload: 'caller-v1', source_workload_namespace: 'shop', source_principal: 'spiffe://cluster.local/ns/shop/sa/caller', source_app: 'caller', source_version: 'v1',
      source_canonical_service: 'caller', source_canonical_revision: 'v1', destination_workload: 'callme-v2', destination_workload_namespace: 'shop',
      destination_principal: 'spiffe://cluster.local/ns/shop/sa/callme', destination_app: 'callme', destination_version: 'v2', destination_service: 'callme.shop.svc.cluster.local',
      destination_service_name: 'callme', destination_service_namespace: 'shop', destination_canonical_service: 'callme', destination_canonical_revision: 'v2',
      request_protocol: 'http', response_code: '200', response_flags: '-',
    };
    expect(src.labels).toMatchObject({ ...expected, connection_security_policy: 'unknown' });
    expect(dst.labels).toMatchObject({ ...expected, connection_security_policy: 'mutual_tls' });
    expect(src.value).toBe(3);
    const durCount = samples.find((s) => s.name === 'istio_request_duration_milliseconds_count' && s.labels.reporter === 'destination');
    expect(durCount?.value).toBe(3);
    expect(samples.find((s) => s.name === 'istio_request_duration_milliseconds_bucket' && s.labels.reporter === 'source' && s.labels.le === '5')?.value).toBe(3);
    expect(samples.find((s) => s.name === 'istio_response_bytes_sum' && s.labels.reporter === 'source')?.value).toBe(360);
    expect(samples.find((s) => s.name === 'istio_request_bytes_count' && s.labels.reporter === 'source')?.value).toBe(3);
  });

  it('plaintext inbound from an unknown peer: unknown source, connection_security_policy none', () => {
    const r = new TelemetryRecorder(callme);
    r.request({ side: 'inbound', peer: null, peerPrincipal: '', destinationService: '', protocol: 'grpc', responseCode: 200, grpcStatus: '0', responseFlags: '', mtls: false, durationMs: 1, requestBytes: 0, responseBytes: 0 });
    const s = parse(r.metrics.registry.expose()).find((x) => x.name === 'istio_requests_total')!;
    expect(s.labels).toMatchObject({ source_workload: 'unknown', source_principal: 'unknown', connection_security_policy: 'none', request_protocol: 'grpc', grpc_response_status: '0', destination_workload: 'callme-v2', response_flags: '-' });
  });

  it('TCP connections: opened, bytes each way, closed', () => {
    const r = new TelemetryRecorder(caller);
    const c = r.tcpOpened({ side: 'outbound', peer: null, peerPrincipal: callme.principal, destinationService: 'db.shop.svc.cluster.local', responseFlags: '', mtls: true });
    c.sent.inc(100);
    c.received.inc(42);
    c.closed.inc();
    r.tcpOpened({ side: 'outbound', peer: null, peerPrincipal: callme.principal, destinationService: 'db.shop.svc.cluster.local', responseFlags: '', mtls: true });
    const s = parse(r.metrics.registry.expose());
    const opened = s.find((x) => x.name === 'istio_tcp_connections_opened_total')!;
    expect(Object.keys(opened.labels).sort()).toEqual([...ISTIO_TCP_LABELS].sort());
    expect(opened.value).toBe(2);
    expect(s.find((x) => x.name === 'istio_tcp_sent_bytes_total')?.value).toBe(100);
    expect(s.find((x) => x.name === 'istio_tcp_received_bytes_total')?.value).toBe(42);
    expect(opened.labels.destination_service_name).toBe('db');
  });

  it('15020 merges the proxy metrics with the app metrics from its prometheus annotations', async () => {
    const app = http.createServer((_q, res) => res.end('# HELP app_orders_total Orders.\n# TYPE app_orders_total counter\napp_orders_total 7\n'));
    servers.push(app);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as AddressInfo).port;
    const url = appScrapeTarget({ ISTIO_PROMETHEUS_ANNOTATIONS: JSON.stringify({ scrape: 'true', path: '/metrics', port: String(appPort) }) });
    expect(url).toBe(`http://127.0.0.1:${appPort}/metrics`);
    const r = new TelemetryRecorder(callme, new Registry());
    r.request({ side: 'inbound', peer: null, peerPrincipal: '', destinationService: 'callme.shop.svc.cluster.local', protocol: 'http', responseCode: 503, grpcStatus: '', responseFlags: 'UF', mtls: false, durationMs: 1, requestBytes: 0, responseBytes: 0 });
    const { server, port } = await listenMetrics(mergedMetricsHandler({ proxy: [() => r.metrics.registry.expose()], appUrl: url }), '127.0.0.1', 0);
    servers.push(server);
    const s = parse(await get(`http://127.0.0.1:${port}/stats/prometheus`));
    expect(s.find((x) => x.name === 'app_orders_total')?.value).toBe(7);
    expect(s.find((x) => x.name === 'istio_requests_total')?.labels).toMatchObject({ response_code: '503', response_flags: 'UF' });
    // an app that does not answer leaves the proxy metrics served
    const { server: s2, port: p2 } = await listenMetrics(mergedMetricsHandler({ proxy: [() => r.metrics.registry.expose()], appUrl: 'http://127.0.0.1:1/metrics', appTimeoutMs: 500 }), '127.0.0.1', 0);
    servers.push(s2);
    expect(parse(await get(`http://127.0.0.1:${p2}/stats/prometheus`)).some((x) => x.name === 'istio_requests_total')).toBe(true);
  });
});

describe('access log', () => {
  const entry: AccessLogEntry = {
    startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 678), method: 'GET', path: '/callme/ping', protocol: 'HTTP/1.1', responseCode: 200, responseFlags: '-',
    responseCodeDetails: 'via_upstream', connectionTerminationDetails: null, upstreamTransportFailureReason: null, bytesReceived: 0, bytesSent: 11,
    durationMs: 4.4, upstreamServiceTimeMs: 3, xForwardedFor: null, userAgent: 'curl/8', requestId: 'abc', authority: 'callme:8091',
    upstreamHost: '10.0.0.7:8091', upstreamCluster: 'outbound|8091||callme.shop.svc.cluster.local', upstreamLocalAddress: '10.0.0.5:40000',
    downstreamLocalAddress: '10.96.0.10:8091', downstreamRemoteAddress: '10.0.0.5:39000', requestedServerName: null, routeName: 'default',
  };

  it('writes Envoy\'s default fields as one JSON line', async () => {
    const line = formatAccessLog(entry);
    expect(line.endsWith('\n')).toBe(true);
    const o = JSON.parse(line);
    expect(Object.keys(o)).toEqual(['authority', 'bytes_received', 'bytes_sent', 'connection_termination_details', 'downstream_local_address', 'downstream_remote_address',
      'duration', 'method', 'path', 'protocol', 'request_id', 'requested_server_name', 'response_code', 'response_code_details', 'response_flags', 'route_name',
      'start_time', 'upstream_cluster', 'upstream_host', 'upstream_local_address', 'upstream_service_time', 'upstream_transport_failure_reason', 'user_agent', 'x_forwarded_for']);
    expect(o).toMatchObject({ start_time: '2026-01-02T03:04:05.678Z', duration: 4, response_code: 200, upstream_service_time: '3', requested_server_name: null, path: '/callme/ping' });
  });

  it('is on by default and has a switch', async () => {
    expect(accessLogTarget(undefined, {})).toBe('stdout');
    expect(accessLogTarget('off', {})).toBe('off');
    expect(accessLogTarget(undefined, { ACCESS_LOG_FILE: '' })).toBe('off');
    expect(accessLogTarget(undefined, { ACCESS_LOG_FILE: '/var/log/a.log' })).toBe('/var/log/a.log');
    const chunks: string[] = [];
    const sink = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } });
    const on = new AccessLogger('stdout', sink);
    on.log(entry);
    on.log(entry);
    await new Promise((r) => setImmediate(r));
    expect(chunks).toHaveLength(1);
    expect(chunks[0].split('\n').filter(Boolean)).toHaveLength(2);
    const off = new AccessLogger('off', sink);
    off.log(entry);
    await new Promise((r) => setImmediate(r));
    expect(chunks).toHaveLength(1);
  });
});

describe('tracing', () => {
  it('one trace with the outbound CLIENT span and the inbound SERVER span, over real HTTP with W3C and B3 headers', async () => {
    const exporter = new InMemorySpanExporter();
    const outbound = new ProxyTracer(caller, { exporter, simple: true, samplingPercent: 100 });
    const inbound = new ProxyTracer(callme, { exporter, simple: true, samplingPercent: 100 });
    let seenHeaders: http.IncomingHttpHeaders = {};
    // The server side: an inbound layer in front of the app.
    const inboundSrv = http.createServer((req, res) => {
      seenHeaders = req.headers;
      const span = inbound.start('inbound', 'callme.shop.svc.cluster.local:8091/*', req.headers, null, { 'http.request.method': req.method ?? '' });
      res.end('callme:v2', () => inbound.end(span, 200));
    });
    servers.push(inboundSrv);
    await new Promise<void>((r) => inboundSrv.listen(0, '127.0.0.1', r));
    const inPort = (inboundSrv.address() as AddressInfo).port;
    // The client side: an outbound layer that forwards upstream with trace headers.
    const outboundSrv = http.createServer((req, res) => {
      const up: Record<string, string | string[] | undefined> = { [PEER_METADATA_HEADER]: encodePeerMetadata(caller) };
      const span = outbound.start('outbound', 'callme.shop.svc.cluster.local:8091/*', req.headers, up, {});
      http.get({ host: '127.0.0.1', port: inPort, path: req.url, headers: up as http.OutgoingHttpHeaders }, (r) => {
        r.pipe(res);
        r.on('end', () => outbound.end(span, r.statusCode ?? 0));
      });
    });
    servers.push(outboundSrv);
    await new Promise<void>((r) => outboundSrv.listen(0, '127.0.0.1', r));
    const app = await fetch(`http://127.0.0.1:${(outboundSrv.address() as AddressInfo).port}/callme/ping`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    expect(await app.text()).toBe('callme:v2');
    await new Promise((r) => setTimeout(r, 50));
    const spans = exporter.getFinishedSpans();
    const client = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(client.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(server.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
    expect(client.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(seenHeaders.traceparent).toContain(client.spanContext().spanId);
    expect(seenHeaders['x-b3-traceid']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(seenHeaders.b3).toContain(client.spanContext().spanId);
    expect(client.resource.attributes['service.name']).toBe('caller.shop');
    expect(server.resource.attributes['service.name']).toBe('callme.shop');
    await Promise.all([outbound.shutdown(), inbound.shutdown()]);
  });
});

describe('the destination service of an inbound request', () => {
  it('completes the short forms of a Kubernetes service name and keeps cluster FQDNs', () => {
    expect(inboundServiceHost('callme:8080', 'shop')).toBe('callme.shop.svc.cluster.local');
    expect(inboundServiceHost('callme', 'shop')).toBe('callme.shop.svc.cluster.local');
    expect(inboundServiceHost('callme.other:8080', 'shop')).toBe('callme.other.svc.cluster.local');
    expect(inboundServiceHost('callme.other.svc', 'shop')).toBe('callme.other.svc.cluster.local');
    expect(inboundServiceHost('Callme.Shop.svc.cluster.local:8080', 'x')).toBe('callme.shop.svc.cluster.local');
  });
  it('names no service for IPs, external hosts, localhost or an empty authority', () => {
    for (const a of ['10.0.0.7:8080', '[fd00::1]:8080', 'example.com.au', 'localhost:8080', '', '1abc']) expect(inboundServiceHost(a, 'shop')).toBe('');
  });
});
