import { describe, expect, it } from 'vitest';
import type { MeshGraph, SpanView } from '@tsmesh/telemetry/mesh-view';
import { edgeLabel, esc, formatMs, formatPct, formatRps, graphElements, spanTree, splitBars } from './view-model';

const graph: MeshGraph = {
  source: 'prometheus', windowSeconds: 15,
  nodes: [
    { id: 'default/caller', namespace: 'default', workload: 'caller', app: 'caller', version: 'v1', rpsIn: 0, rpsOut: 2, proxied: true },
    { id: 'default/callme-v1', namespace: 'default', workload: 'callme-v1', app: 'callme', version: 'v1', rpsIn: 2, rpsOut: 0, proxied: true },
    { id: 'default/orphan', namespace: 'default', workload: 'orphan', app: 'orphan', version: 'v1', rpsIn: 0, rpsOut: 0, proxied: false },
  ],
  edges: [{ id: 'e1', source: 'default/caller', target: 'default/callme-v1', service: 'callme.default', rps: 2, successRate: 0.5, p50: 3.25, p99: 1500, mtlsShare: 1, mtls: true }],
};

describe('view model', () => {
  it('formats numbers', () => {
    expect([formatRps(0), formatRps(0.05), formatRps(2.34), formatRps(12.6), formatRps(2500)]).toEqual(['0', '0.05', '2.3', '13', '2.5k']);
    expect([formatMs(null), formatMs(3.25), formatMs(120), formatMs(1500)]).toEqual(['-', '3.3 ms', '120 ms', '1.5 s']);
    expect([formatPct(null), formatPct(1), formatPct(0.995)]).toEqual(['-', '100 %', '99.5 %']);
    expect(esc('<a href="x">&</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  });

  it('makes cytoscape elements: used or proxied nodes, edges classed by mTLS and errors', () => {
    const els = graphElements(graph);
    expect(els.filter((e) => e.group === 'nodes').map((e) => e.data.id)).toEqual(['default/caller', 'default/callme-v1']);
    const edge = els.find((e) => e.group === 'edges')!;
    expect(edge.classes).toBe('mtls live errors');
    expect(edgeLabel(graph.edges[0])).toBe('2.0 rps · 50 % · P50 3.3 ms · P99 1.5 s');
    expect(edge.data.label).toBe('2.0 rps · 50 %\nP50 3.3 ms · P99 1.5 s');
  });

  it('rounds split bars and keeps configured weights', () => {
    expect(splitBars({ service: 's', rps: 3, versions: [{ version: 'v1', rps: 1, share: 1 / 3, weight: 50 }, { version: 'v2', rps: 2, share: 2 / 3, weight: 50 }] }))
      .toEqual([{ version: 'v1', pct: 33.3, weight: 50, rps: 1 }, { version: 'v2', pct: 66.7, weight: 50, rps: 2 }]);
  });

  it('orders spans depth-first from the root, children by start', () => {
    const s = (spanId: string, parentSpanId: string | undefined, startMs: number): SpanView => ({ traceId: 't', spanId, parentSpanId, name: spanId, service: 'x', kind: 'SERVER', startMs, durationMs: 1, error: false, attributes: {} });
    const tree = spanTree([s('c2', 'a', 5), s('a', undefined, 0), s('c1', 'a', 2), s('g', 'c1', 3), s('lost', 'zz', 1)]);
    expect(tree.map((t) => `${t.span.spanId}:${t.depth}`)).toEqual(['a:0', 'c1:1', 'g:2', 'c2:1', 'lost:0']);
  });
});
