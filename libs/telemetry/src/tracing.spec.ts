import { createServer, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { createTracing, endRequestSpan, formatTraceParent, injectContext, parseTraceParent, startRequestSpan, type Tracing } from './tracing';

const tracings: Tracing[] = [];
afterEach(async () => {
  for (const t of tracings.splice(0)) await t.shutdown();
});

describe('tracing', () => {
  it('continues a W3C trace from traceparent and injects both W3C and B3 headers', () => {
    const exporter = new InMemorySpanExporter();
    const t = createTracing({ serviceName: 'callme.default', exporter, simple: true });
    tracings.push(t);
    const incoming = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const span = startRequestSpan(t.tracer, 'callme-service.default.svc.cluster.local:8091/*', incoming, 'inbound');
    const out: Record<string, string | string[] | undefined> = {};
    injectContext(span, out);
    endRequestSpan(span, 200);
    const [done] = exporter.getFinishedSpans();
    expect(done.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(done.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(parseTraceParent(out.traceparent as string)).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: done.spanContext().spanId, sampled: true });
    expect(out['x-b3-traceid']).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(out['x-b3-spanid']).toBe(done.spanContext().spanId);
    expect(out['x-b3-sampled']).toBe('1');
    expect(out.b3).toMatch(/^0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-1$/);
  });

  it('continues a B3 multi-header trace when there is no traceparent', () => {
    const exporter = new InMemorySpanExporter();
    const t = createTracing({ serviceName: 's', exporter, simple: true });
    tracings.push(t);
    const span = startRequestSpan(t.tracer, 'x', { 'x-b3-traceid': '463ac35c9f6413ad48485a3953bb6124', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' }, 'outbound');
    endRequestSpan(span, 503);
    const [done] = exporter.getFinishedSpans();
    expect(done.spanContext().traceId).toBe('463ac35c9f6413ad48485a3953bb6124');
    expect(done.status.code).toBe(2);
    expect(done.attributes['http.response.status_code']).toBe(503);
  });

  it('samples new traces at the configured rate but follows a sampled parent', () => {
    const exporter = new InMemorySpanExporter();
    const t = createTracing({ serviceName: 's', exporter, simple: true, samplingRate: 0 });
    tracings.push(t);
    endRequestSpan(startRequestSpan(t.tracer, 'root', {}, 'inbound'), 200);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    endRequestSpan(startRequestSpan(t.tracer, 'child', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, 'inbound'), 200);
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });

  it('exports spans over OTLP/HTTP to a real collector endpoint', async () => {
    const bodies: { url: string; type: string; size: number; body: Buffer }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        bodies.push({ url: req.url ?? '', type: String(req.headers['content-type']), size: body.length, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const t = createTracing({ serviceName: 'todolist.default', otlpEndpoint: `http://127.0.0.1:${port}/v1/traces` });
      endRequestSpan(startRequestSpan(t.tracer, 'GET /', {}, 'inbound'), 200);
      await t.provider.forceFlush();
      await t.shutdown();
      expect(bodies.length).toBeGreaterThan(0);
      expect(bodies[0].url).toBe('/v1/traces');
      expect(bodies[0].size).toBeGreaterThan(0);
      expect(bodies[0].body.toString('latin1')).toContain('todolist.default');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('parses and formats traceparent, refusing malformed and all-zero ids', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
    expect(formatTraceParent(parseTraceParent(tp)!)).toBe(tp);
    expect(parseTraceParent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeNull();
    expect(parseTraceParent('garbage')).toBeNull();
    expect(parseTraceParent(undefined)).toBeNull();
  });
});
