/** Pure helpers of the dashboard's page: graph elements, labels, numbers. */
import type { GraphEdge, MeshGraph, ServiceSplit, SpanView } from '@tsmesh/telemetry/mesh-view';

/** `12.3`, `0.42`, `1.2k`. */
export function formatRps(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (v >= 10) return v.toFixed(0);
  if (v >= 0.1) return v.toFixed(1);
  return v > 0 ? v.toFixed(2) : '0';
}

/** `3.2 ms`, `120 ms`, `1.5 s`; `-` when unknown. */
export function formatMs(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '-';
  if (v >= 1000) return `${(v / 1000).toFixed(1)} s`;
  return v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`;
}

/** `99.5 %`; `-` when no request. */
export function formatPct(v: number | null): string {
  if (v === null) return '-';
  const pct = v >= 0.9995 ? '100' : (v * 100).toFixed(1).replace(/\.0$/, '');
  return `${pct} %`;
}

/** The label drawn on an edge: `12 rps · 100 % · P50 3.1 ms · P99 9 ms`. */
export function edgeLabel(e: GraphEdge): string {
  return `${formatRps(e.rps)} rps · ${formatPct(e.successRate)} · P50 ${formatMs(e.p50)} · P99 ${formatMs(e.p99)}`;
}

/** The label drawn on the canvas: rate and success on one line, latencies on the next. */
export function canvasLabel(e: GraphEdge): string {
  return edgeLabel(e).replace(' · P50', '\nP50');
}

/** Cytoscape element definitions of a graph: nodes by namespace/workload, edges by source, target and service. */
export function graphElements(g: MeshGraph): { group: 'nodes' | 'edges'; data: Record<string, unknown>; classes?: string }[] {
  const used = new Set(g.edges.flatMap((e) => [e.source, e.target]));
  const nodes = g.nodes
    .filter((n) => used.has(n.id) || n.proxied)
    .map((n) => ({
      group: 'nodes' as const,
      data: { id: n.id, label: n.workload === 'unknown' ? 'unknown' : `${n.workload}\n${n.namespace}`, workload: n.workload, namespace: n.namespace, version: n.version, app: n.app },
      classes: [n.namespace === 'istio-system' ? 'system' : '', n.workload === 'unknown' ? 'unknown' : '', n.proxied ? '' : 'unproxied'].filter(Boolean).join(' '),
    }));
  const edges = g.edges.map((e) => ({
    group: 'edges' as const,
    data: { id: e.id, source: e.source, target: e.target, label: canvasLabel(e), mtls: e.mtls, rps: e.rps, service: e.service },
    classes: [e.mtls ? 'mtls' : 'plain', e.rps > 0 ? 'live' : 'idle', e.successRate !== null && e.successRate < 0.99 ? 'errors' : ''].filter(Boolean).join(' '),
  }));
  return [...nodes, ...edges];
}

/** Bars of a split: observed share per version (percent, summing to 100 when there is traffic). */
export function splitBars(s: ServiceSplit): { version: string; pct: number; weight: number | null; rps: number }[] {
  return s.versions.map((v) => ({ version: v.version, pct: Math.round(v.share * 1000) / 10, weight: v.weight === null ? null : Math.round(v.weight * 10) / 10, rps: v.rps }));
}

/** Spans of a trace in display order (depth-first from the roots, children by start time) with their depth. */
export function spanTree(spans: readonly SpanView[]): { span: SpanView; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, SpanView[]>();
  const roots: SpanView[] = [];
  for (const s of spans) {
    if (s.parentSpanId && ids.has(s.parentSpanId)) {
      const l = children.get(s.parentSpanId) ?? [];
      l.push(s);
      children.set(s.parentSpanId, l);
    } else roots.push(s);
  }
  const out: { span: SpanView; depth: number }[] = [];
  const walk = (s: SpanView, depth: number) => {
    out.push({ span: s, depth });
    for (const c of (children.get(s.spanId) ?? []).sort((a, b) => a.startMs - b.startMs)) walk(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.startMs - b.startMs)) walk(r, 0);
  return out;
}

/** Escapes text for HTML. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
