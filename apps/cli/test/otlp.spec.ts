/**
 * The dashboard's OTLP/HTTP receiver fed by the real OpenTelemetry SDK exporters (protobuf and
 * JSON) of three services that pass the trace along in W3C and then B3-only headers, as the
 * gateway → caller → callme proxies do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { createTracing, endRequestSpan, injectContext, startRequestSpan, type SpanView, type TraceSummary } from '@tsmesh/telemetry';
import { startDashboard, type RunningDashboard } from '../src/dashboard/server';
import { decodeOtlpTraces, OtlpDecodeError, TraceStore } from '../src/dashboard/otlp';

describe('OTLP/HTTP receiver and trace API', () => {
  let d: RunningDashboard;
  beforeAll(async () => {
    d = await startDashboard({ port: 0, controlPlane: 'http://127.0.0.1:9', assetsDir: '/nonexistent', otlp: { host: '127.0.0.1', port: 0 } });
  });
  afterAll(async () => d?.close());

  it('joins the spans of gateway, caller and callme into one trace across W3C and B3-only hops', async () => {
    expect(d.otlpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/traces$/);
    const gw = createTracing({ serviceName: 'istio-ingressgateway.istio-system', otlpEndpoint: d.otlpUrl, otlpProtocol: 'http/protobuf', simple: true });
    const caller = createTracing({ serviceName: 'caller-service.default', otlpEndpoint: d.otlpUrl, otlpProtocol: 'http/json', simple: true });
    const callme = createTracing({ serviceName: 'callme-service.default', otlpEndpoint: `${d.url}/v1/traces`, otlpProtocol: 'http/protobuf', simple: true });
    // the gateway: its SERVER span, then its CLIENT span writing W3C and B3 into the request to caller
    const inGw = startRequestSpan(gw.tracer, 'GET /caller/ping', {}, 'inbound');
    const toCaller: Record<string, string> = {};
    injectContext(inGw, toCaller);
    const outGw = startRequestSpan(gw.tracer, 'GET /caller/ping', { ...toCaller }, 'outbound');
    const h1: Record<string, string> = {};
    injectContext(outGw, h1);
    expect(h1.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(h1['x-b3-traceid']).toBe(h1.traceparent.split('-')[1]);
    const inCaller = startRequestSpan(caller.tracer, 'GET /caller/ping', h1, 'inbound');
    const h2: Record<string, string> = {};
    injectContext(inCaller, h2);
    const outCaller = startRequestSpan(caller.tracer, 'GET /callme/ping', h2, 'outbound');
    const h3: Record<string, string> = {};
    injectContext(outCaller, h3);
    // the last hop carries B3 only (multi-header): the trace still joins
    const b3Only = Object.fromEntries(Object.entries(h3).filter(([k]) => k.startsWith('x-b3-')));
    expect(Object.keys(b3Only).sort()).toEqual(['x-b3-sampled', 'x-b3-spanid', 'x-b3-traceid']);
    const inCallme = startRequestSpan(callme.tracer, 'GET /callme/ping', b3Only, 'inbound');
    for (const [s, code] of [[inCallme, 200], [outCaller, 200], [inCaller, 200], [outGw, 503], [inGw, 503]] as const) endRequestSpan(s, code);
    await Promise.all([gw, caller, callme].map((t) => t.provider.forceFlush()));
    await Promise.all([gw, caller, callme].map((t) => t.shutdown()));

    const list = (await (await fetch(`${d.url}/api/traces`)).json()) as { receiver: string; traces: TraceSummary[] };
    expect(list.receiver).toBe(d.otlpUrl);
    const traceId = h1.traceparent.split('-')[1];
    const t = list.traces.find((x) => x.traceId === traceId)!;
    expect(t).toMatchObject({ spans: 5, error: true, services: ['istio-ingressgateway.istio-system', 'caller-service.default', 'callme-service.default'] });
    expect(t.root).toBe('istio-ingressgateway.istio-system GET /caller/ping');
    const one = (await (await fetch(`${d.url}/api/traces/${traceId}`)).json()) as { spans: SpanView[] };
    const byId = new Map(one.spans.map((s) => [s.spanId, s]));
    const callmeSpan = one.spans.find((s) => s.service === 'callme-service.default')!;
    // each span's parent is the previous hop's span: callme ← caller CLIENT ← caller SERVER ← gateway CLIENT ← gateway SERVER
    const chain: string[] = [];
    for (let s: SpanView | undefined = callmeSpan; s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) chain.push(`${s.service} ${s.kind}`);
    expect(chain).toEqual(['callme-service.default SERVER', 'caller-service.default CLIENT', 'caller-service.default SERVER', 'istio-ingressgateway.istio-system CLIENT', 'istio-ingressgateway.istio-system SERVER']);
    expect(one.spans.find((s) => s.kind === 'SERVER' && s.service.startsWith('istio'))!.attributes['http.response.status_code']).toBe('503');
    expect((await fetch(`${d.url}/api/traces/${'0'.repeat(31)}1`)).status).toBe(404);
  });

  it('takes gzip OTLP/JSON and refuses what it cannot decode, naming why', async () => {
    const span = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', name: 'GET /', kind: 2, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000005000000', status: { code: 2 } };
    const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'todolist.default' } }] }, scopeSpans: [{ spans: [span] }] }] };
    const r = await fetch(d.otlpUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(body)) });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('{}');
    const got = (await (await fetch(`${d.url}/api/traces/${span.traceId}`)).json()) as { spans: SpanView[] };
    expect(got.spans[0]).toMatchObject({ service: 'todolist.default', kind: 'SERVER', durationMs: 5, error: true, startMs: 1700000000000 });
    const bad = await fetch(d.otlpUrl, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([0x0a, 0xff, 0xff, 0x01]) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/not an ExportTraceServiceRequest/);
    const wrongType = await fetch(d.otlpUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(wrongType.status).toBe(400);
    expect((await fetch(d.otlpUrl)).status).toBe(405);
    expect(() => decodeOtlpTraces(Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ ...span, traceId: 'abc' }] }] }] })), 'application/json')).toThrow(OtlpDecodeError);
  });

  it('keeps at most the last N traces', () => {
    const store = new TraceStore(2, 2);
    const s = (traceId: string, spanId: string): SpanView => ({ traceId, spanId, name: 'x', service: 's', kind: 'SERVER', startMs: 1, durationMs: 1, error: false, attributes: {} });
    store.add([s('a'.repeat(32), '1'.repeat(16)), s('b'.repeat(32), '1'.repeat(16)), s('a'.repeat(32), '2'.repeat(16)), s('a'.repeat(32), '3'.repeat(16)), s('c'.repeat(32), '1'.repeat(16))]);
    expect(store.list().map((t) => `${t.traceId[0]}:${t.spans}`)).toEqual(['c:1', 'a:2']);
    expect(store.dropped).toBe(2);
  });
});
