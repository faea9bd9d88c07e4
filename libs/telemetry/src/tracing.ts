/**
 * Tracing for tsmesh proxies and servers: OpenTelemetry tracer provider with OTLP/HTTP export and
 * a ratio sampler that honours the parent's decision, and propagation of W3C `traceparent`
 * and B3 (single `b3` header and multi-header `x-b3-*`) on the same request.
 */
import { context, trace, SpanKind, SpanStatusCode, type Span, type Tracer, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, TracerProvider,
  type SpanExporter, type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';

/** Options for {@link createTracing}. */
export interface TracingOptions {
  serviceName: string;
  /** Resource attributes added to every span (e.g. `k8s.pod.name`). */
  attributes?: Record<string, string>;
  /** OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`); no export when unset and no exporter given. */
  otlpEndpoint?: string;
  /**
   * OTLP/HTTP encoding: `http/protobuf` (the OTLP default) or `http/json`; default
   * `$OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `http/protobuf`.
   */
  otlpProtocol?: 'http/protobuf' | 'http/json';
  /** Exporter to use instead of OTLP (tests use an in-memory one). */
  exporter?: SpanExporter;
  /** Fraction of new traces sampled, 0..1 (Istio's `sampling` is a percentage: divide by 100). */
  samplingRate?: number;
  /** Export each span as it ends (tests) instead of in batches. */
  simple?: boolean;
}

/** A tracer with its provider and a propagator for W3C and B3 headers. */
export interface Tracing {
  tracer: Tracer;
  provider: TracerProvider;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

/** Extracts W3C trace context and B3 (single or multi) from incoming headers; injects both. */
export const meshPropagator = new CompositePropagator({
  propagators: [
    new W3CTraceContextPropagator(),
    new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }),
    new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER }),
  ],
});

/** Getter for Node's incoming header objects (lower-case keys, string or string[] values). */
export const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

/** Setter for outgoing header objects. */
export const headerSetter: TextMapSetter<Record<string, string | string[] | undefined>> = {
  set: (carrier, key, value) => {
    carrier[key.toLowerCase()] = value;
  },
};

/** An OTLP/HTTP span exporter in the encoding asked for (protobuf unless `http/json`). */
export function otlpExporter(url: string, protocol = process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? 'http/protobuf'): SpanExporter {
  if (protocol === 'http/json') return new OTLPJsonTraceExporter({ url });
  if (protocol !== 'http/protobuf') throw new Error(`OTLP protocol "${protocol}": tsmesh exports http/protobuf or http/json (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)`);
  return new OTLPProtoTraceExporter({ url });
}

/** Creates a tracer provider (not registered globally, so several can live in one process). */
export function createTracing(o: TracingOptions): Tracing {
  const processors: SpanProcessor[] = [];
  const exporter = o.exporter ?? (o.otlpEndpoint ? otlpExporter(o.otlpEndpoint, o.otlpProtocol) : undefined);
  if (exporter) processors.push(o.simple ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter }));
  const rate = Math.min(1, Math.max(0, o.samplingRate ?? 1));
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': o.serviceName, ...(o.attributes ?? {}) }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(rate) }),
    spanProcessors: processors,
  });
  return {
    tracer: provider.getTracer('tsmesh'),
    provider,
    shutdown: () => provider.shutdown(),
  };
}

/** The trace context carried by incoming headers (W3C first, then B3). */
export function extractContext(headers: Record<string, string | string[] | undefined>): Context {
  return meshPropagator.extract(context.active(), headers, headerGetter);
}

/** Writes `traceparent` and B3 headers for `span` into `headers`. */
export function injectContext(span: Span, headers: Record<string, string | string[] | undefined>): void {
  meshPropagator.inject(trace.setSpan(context.active(), span), headers, headerSetter);
}

/**
 * Starts a span for a request as a proxy sees it: child of the incoming trace context when
 * there is one, `SERVER` kind on the inbound side and `CLIENT` on the outbound side.
 */
export function startRequestSpan(
  tracer: Tracer,
  name: string,
  headers: Record<string, string | string[] | undefined>,
  side: 'inbound' | 'outbound',
  attributes: Record<string, string | number> = {},
): Span {
  const parent = extractContext(headers);
  return tracer.startSpan(name, { kind: side === 'inbound' ? SpanKind.SERVER : SpanKind.CLIENT, attributes }, parent);
}

/** Ends a request span with its HTTP status (5xx marks it as an error). */
export function endRequestSpan(span: Span, status: number, attributes: Record<string, string | number> = {}): void {
  span.setAttribute('http.response.status_code', status);
  for (const [k, v] of Object.entries(attributes)) span.setAttribute(k, v);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** Parsed W3C `traceparent` (version 00). */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses a `traceparent` header; null when malformed or all-zero ids. */
export function parseTraceParent(v: string | undefined): TraceParent | null {
  if (!v) return null;
  const m = TRACEPARENT_RE.exec(v.trim());
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return null;
  return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & 1) === 1 };
}

/** Formats a `traceparent` header. */
export function formatTraceParent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${t.sampled ? '01' : '00'}`;
}
