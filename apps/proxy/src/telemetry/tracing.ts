/**
 * A span per request on each side of the mesh hop, with OpenTelemetry JS through
 * `@tsmesh/telemetry`: the inbound proxy makes a SERVER span, the outbound proxy a CLIENT span,
 * each a child of the trace context the request carries (W3C `traceparent` or B3), and the
 * outbound side writes its span's context into the upstream request (W3C and B3 both) so the
 * next hop continues the trace. Sampling comes from config (Istio's percentage / 100); spans are
 * exported over OTLP/HTTP.
 */
import type { Span } from '@opentelemetry/api';
import { createTracing, endRequestSpan, injectContext, startRequestSpan, type Tracing } from '@tsmesh/telemetry';
import type { HeaderBag } from '../authz/attributes';
import type { WorkloadInfo } from './workload';

/** Tracing options from flags/env: `--tracing-otlp <url>` (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `--trace-sampling <percent>`. */
export interface ProxyTracingOptions {
  otlpEndpoint?: string;
  /** Percentage of new traces sampled (Istio's `sampling`, default 1). */
  samplingPercent?: number;
  /** Exporter for tests. */
  exporter?: Parameters<typeof createTracing>[0]['exporter'];
  simple?: boolean;
}

/** Per-request spans for one proxy. */
export class ProxyTracer {
  readonly tracing: Tracing;

  constructor(self: WorkloadInfo, o: ProxyTracingOptions) {
    this.tracing = createTracing({
      serviceName: `${self.canonicalService}.${self.namespace}`,
      attributes: { 'k8s.pod.name': self.pod, 'k8s.namespace.name': self.namespace, 'service.version': self.canonicalRevision },
      otlpEndpoint: o.otlpEndpoint,
      exporter: o.exporter,
      simple: o.simple,
      samplingRate: (o.samplingPercent ?? 1) / 100,
    });
  }

  /** Starts the span of a request; on the outbound side also writes trace headers into `upstreamHeaders`. */
  start(side: 'inbound' | 'outbound', name: string, headers: HeaderBag, upstreamHeaders: HeaderBag | null, attributes: Record<string, string | number>): Span {
    const span = startRequestSpan(this.tracing.tracer, name, headers, side, attributes);
    if (upstreamHeaders) injectContext(span, upstreamHeaders);
    return span;
  }

  /** Ends a request span with its status and Istio-style attributes. */
  end(span: Span, status: number, attributes: Record<string, string | number> = {}): void {
    endRequestSpan(span, status, attributes);
  }

  /** Flushes and stops exporting. */
  shutdown(): Promise<void> {
    return this.tracing.shutdown();
  }
}

/** Options from flags and environment. */
export function tracingOptionsFrom(flags: { tracingOtlp?: string; traceSampling?: string }, env: NodeJS.ProcessEnv = process.env): ProxyTracingOptions | null {
  const endpoint = flags.tracingOtlp ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!endpoint || endpoint === 'off') return null;
  const pct = Number(flags.traceSampling ?? env.TRACE_SAMPLING ?? '1');
  return { otlpEndpoint: endpoint, samplingPercent: Number.isFinite(pct) ? Math.min(100, Math.max(0, pct)) : 1 };
}
