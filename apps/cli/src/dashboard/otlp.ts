/**
 * A bounded in-memory OTLP/HTTP trace receiver for the demo (`POST /v1/traces`, protobuf or JSON,
 * optionally gzip), and the trace API the dashboard's trace view reads. Protobuf is decoded with
 * the OpenTelemetry project's own code generated from opentelemetry-proto (the protobufjs module
 * shipped by `@opentelemetry/otlp-transformer` 0.214, installed as `otlp-protos`).
 */
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SpanView, TraceSummary } from '@tsmesh/telemetry';

/** The protobufjs message type of `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`. */
interface MessageType {
  decode(buf: Uint8Array): unknown;
  toObject(m: unknown, o: { longs: typeof String; bytes: typeof String; enums: typeof String; defaults: boolean }): unknown;
}
let requestType: MessageType | undefined;
function exportTraceServiceRequest(): MessageType {
  if (!requestType) {
    const root = createRequire(import.meta.url)('otlp-protos/build/src/generated/root.js') as { opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: MessageType } } } } } };
    requestType = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
  }
  return requestType;
}

/** An OTLP body that cannot be decoded (HTTP 400). */
export class OtlpDecodeError extends Error {
  readonly code = 'CLI_OTLP_DECODE';
}

interface AnyValue { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number; arrayValue?: { values?: AnyValue[] } }
interface KeyValue { key: string; value?: AnyValue }
interface OtlpSpan {
  traceId?: string; spanId?: string; parentSpanId?: string; name?: string; kind?: string | number;
  startTimeUnixNano?: string | number; endTimeUnixNano?: string | number; attributes?: KeyValue[]; status?: { code?: string | number };
}
interface OtlpRequest { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[] }

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;

function valueText(v: AnyValue | undefined): string {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(valueText).join(',');
  return '';
}

const nanosToMs = (n: string | number | undefined) => Number(BigInt(String(n ?? 0)) / 1000n) / 1000;

/**
 * Spans of an OTLP ExportTraceServiceRequest, decoded from protobuf (`application/x-protobuf`)
 * or OTLP/JSON (`application/json`; ids in hex as the OTLP/JSON mapping says).
 */
export function decodeOtlpTraces(body: Uint8Array, contentType: string): SpanView[] {
  let req: OtlpRequest;
  let hex: (id: string | undefined) => string;
  if (/json/i.test(contentType)) {
    try {
      req = JSON.parse(Buffer.from(body).toString('utf8')) as OtlpRequest;
    } catch (err) {
      throw new OtlpDecodeError(`OTLP/JSON body: ${(err as Error).message}`);
    }
    hex = (id) => (id ?? '').toLowerCase();
  } else if (/protobuf/i.test(contentType)) {
    const T = exportTraceServiceRequest();
    try {
      req = T.toObject(T.decode(body), { longs: String, bytes: String, enums: String, defaults: false }) as OtlpRequest;
    } catch (err) {
      throw new OtlpDecodeError(`OTLP protobuf body is not an ExportTraceServiceRequest: ${(err as Error).message}`);
    }
    hex = (id) => Buffer.from(id ?? '', 'base64').toString('hex');
  } else {
    throw new OtlpDecodeError(`content-type "${contentType}": OTLP/HTTP is application/x-protobuf or application/json`);
  }
  const out: SpanView[] = [];
  for (const rs of req.resourceSpans ?? []) {
    const service = valueText(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value) || 'unknown';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const traceId = hex(s.traceId);
        const spanId = hex(s.spanId);
        if (!/^[0-9a-f]{32}$/.test(traceId) || !/^[0-9a-f]{16}$/.test(spanId)) throw new OtlpDecodeError(`span "${s.name ?? ''}": trace id "${traceId}" or span id "${spanId}" is not 16/8 bytes`);
        const parent = hex(s.parentSpanId);
        const kind = typeof s.kind === 'number' ? (KINDS[s.kind] ?? 'UNSPECIFIED') : (String(s.kind ?? 'SPAN_KIND_UNSPECIFIED').replace(/^SPAN_KIND_/, '') as SpanView['kind']);
        const startMs = nanosToMs(s.startTimeUnixNano);
        const endMs = nanosToMs(s.endTimeUnixNano);
        out.push({
          traceId, spanId, ...(parent && !/^0+$/.test(parent) ? { parentSpanId: parent } : {}),
          name: s.name ?? '', service, kind: KINDS.includes(kind as (typeof KINDS)[number]) ? kind : 'UNSPECIFIED',
          startMs, durationMs: Math.max(0, endMs - startMs),
          error: s.status?.code === 2 || s.status?.code === 'STATUS_CODE_ERROR',
          attributes: Object.fromEntries((s.attributes ?? []).map((a) => [a.key, valueText(a.value)])),
        });
      }
    }
  }
  return out;
}

/** The last traces received, bounded by traces and by spans per trace (oldest trace dropped first). */
export class TraceStore {
  private readonly traces = new Map<string, SpanView[]>();
  received = 0;
  dropped = 0;

  constructor(readonly maxTraces = 200, readonly maxSpansPerTrace = 500) {}

  add(spans: readonly SpanView[]): void {
    for (const s of spans) {
      this.received++;
      let list = this.traces.get(s.traceId);
      if (list) this.traces.delete(s.traceId);
      else list = [];
      if (list.length < this.maxSpansPerTrace) list.push(s);
      else this.dropped++;
      this.traces.set(s.traceId, list);
      while (this.traces.size > this.maxTraces) {
        const oldest = this.traces.keys().next().value!;
        this.dropped += this.traces.get(oldest)!.length;
        this.traces.delete(oldest);
      }
    }
  }

  /** Every trace, newest first. */
  list(): TraceSummary[] {
    return [...this.traces.entries()].reverse().map(([traceId, spans]) => {
      const start = Math.min(...spans.map((s) => s.startMs));
      const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
      const ids = new Set(spans.map((s) => s.spanId));
      const roots = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId)).sort((a, b) => a.startMs - b.startMs);
      // services in hop order: depth-first from the roots, children by start time
      const children = new Map<string, SpanView[]>();
      for (const s of spans) if (s.parentSpanId && ids.has(s.parentSpanId)) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
      const services: string[] = [];
      const walk = (s: SpanView) => {
        if (!services.includes(s.service)) services.push(s.service);
        for (const c of (children.get(s.spanId) ?? []).sort((a, b) => a.startMs - b.startMs)) walk(c);
      };
      for (const r of roots) walk(r);
      return { traceId, root: `${(roots[0] ?? spans[0]).service} ${(roots[0] ?? spans[0]).name}`, services, spans: spans.length, startMs: start, durationMs: end - start, error: spans.some((s) => s.error) };
    });
  }

  get(traceId: string): SpanView[] | undefined {
    return this.traces.get(traceId);
  }
}

const MAX_BODY = 8 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw Object.assign(new OtlpDecodeError(`body over ${MAX_BODY} bytes`), { status: 413 });
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
  if (enc === 'gzip') {
    try {
      return gunzipSync(body, { maxOutputLength: MAX_BODY });
    } catch (err) {
      throw new OtlpDecodeError(`gzip body: ${(err as Error).message}`);
    }
  }
  if (enc && enc !== 'identity') throw Object.assign(new OtlpDecodeError(`content-encoding "${enc}" is not supported (gzip or none)`), { status: 415 });
  return body;
}

/**
 * Handles `POST /v1/traces` into `store`: 200 with an empty ExportTraceServiceResponse (protobuf
 * or `{}`), 400 naming what could not be decoded, 413/415 for size and encoding. Returns false for
 * other requests.
 */
export async function handleOtlp(store: TraceStore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  if (url.pathname !== '/v1/traces') return false;
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('OTLP/HTTP: POST /v1/traces\n');
    return true;
  }
  const type = String(req.headers['content-type'] ?? '');
  try {
    store.add(decodeOtlpTraces(await readBody(req), type));
  } catch (err) {
    const status = (err as { status?: number }).status ?? 400;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 3, message: (err as Error).message }));
    return true;
  }
  if (/json/i.test(type)) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  else res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }).end();
  return true;
}
