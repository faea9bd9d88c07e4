/** The dashboard's page: a hash router over the overview, workload and trace views, polling the CLI's JSON API. */
import cytoscape from 'cytoscape';
import type { Core, ElementDefinition } from 'cytoscape';
import type { GraphEdge, MeshGraph, ProxyView, ServiceSplit, SpanView, TraceSummary, WorkloadView } from '@tsmesh/telemetry/mesh-view';
import { edgeLabel, esc, formatMs, formatPct, formatRps, graphElements, spanTree, splitBars } from './view-model';

interface Overview {
  at: string;
  graph: MeshGraph;
  splits: ServiceSplit[];
  proxies: ProxyView[];
  issues: { severity: string; code: string; file: string; line?: number; resource: string; field: string; reason: string }[];
}

const LOCK = '<svg class="lock" viewBox="0 0 16 16" aria-label="mTLS" role="img"><rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="#1f9d55"/><path d="M5 7V5a3 3 0 0 1 6 0v2" stroke="#1f9d55" stroke-width="2" fill="none"/></svg>';
const app = document.getElementById('app')!;
let timer: ReturnType<typeof setTimeout> | undefined;
let cy: Core | undefined;
let nodeSet = '';
const locks = new Map<string, HTMLElement>();

async function api<T>(path: string): Promise<T> {
  const r = await fetch(path, { cache: 'no-store' });
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `HTTP ${r.status}`);
  return body;
}

function header(source: string | undefined, note: string | undefined): void {
  const b = document.getElementById('source')!;
  b.textContent = source === 'prometheus' ? 'from Prometheus' : source === 'proxies' ? "from the proxies' own metrics" : '…';
  b.className = `badge ${source ?? ''}`;
  const n = document.getElementById('note')!;
  n.hidden = !note;
  n.textContent = note ?? '';
  document.getElementById('updated')!.textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function showError(err: unknown): void {
  const n = document.getElementById('note')!;
  n.hidden = false;
  n.textContent = `cannot read the dashboard's API: ${(err as Error).message}`;
}

function edgeRows(edges: GraphEdge[], graph?: MeshGraph): string {
  if (!edges.length) return '<tr><td colspan="7" class="empty">no calls in the window</td></tr>';
  const name = (id: string) => {
    const n = graph?.nodes.find((x) => x.id === id);
    return n && n.workload !== 'unknown' ? `<a href="#/workload/${esc(n.namespace)}/${esc(n.workload)}">${esc(n.workload)}</a>` : esc(id);
  };
  return edges.map((e) => `<tr data-testid="edge" data-source="${esc(e.source)}" data-target="${esc(e.target)}" data-mtls="${e.mtls}">
    <td>${name(e.source)} → ${name(e.target)}</td><td>${esc(e.service)}</td><td class="num">${formatRps(e.rps)}</td>
    <td class="num">${formatPct(e.successRate)}</td><td class="num">${formatMs(e.p50)}</td><td class="num">${formatMs(e.p99)}</td>
    <td>${e.mtls ? `${LOCK} mTLS` : e.mtlsShare > 0 ? `partial ${formatPct(e.mtlsShare)}` : 'plaintext'}</td></tr>`).join('');
}
const EDGE_HEAD = '<tr><th>call</th><th>service</th><th class="num">rps</th><th class="num">success</th><th class="num">P50</th><th class="num">P99</th><th>security</th></tr>';

function splitHtml(splits: ServiceSplit[]): string {
  if (!splits.length) return '<p class="empty">no service with more than one version</p>';
  return splits.map((s) => {
    const bars = splitBars(s);
    const spans = bars.map((b, i) => `<span class="v${i % 4}" style="width:${s.rps > 0 ? b.pct : 100 / bars.length}%" data-version="${esc(b.version)}" data-share="${b.pct}">${esc(b.version)} ${s.rps > 0 ? `${b.pct.toFixed(0)} %` : ''}</span>`).join('');
    const weights = bars.some((b) => b.weight !== null) ? `configured: ${bars.map((b) => `${esc(b.version)} ${b.weight ?? 0}`).join(' · ')}` : 'no weighted route';
    return `<div class="split" data-testid="split" data-service="${esc(s.service)}"><div class="name"><span>${esc(s.service)}</span><span class="muted">${formatRps(s.rps)} rps</span></div>
      <div class="bar">${spans}</div><div class="weights" data-testid="weights">${weights}</div></div>`;
  }).join('');
}

function proxiesHtml(proxies: ProxyView[]): string {
  if (!proxies.length) return '<p class="empty">no proxy connected to the control plane</p>';
  const types = ['CDS', 'LDS', 'EDS', 'RDS', 'SDS'];
  return `<table><tr><th>proxy</th><th>state</th>${types.map((t) => `<th>${t}</th>`).join('')}</tr>${proxies.map((p) => `<tr data-testid="proxy" data-state="${esc(p.state)}">
    <td><a href="#/workload/${esc(p.workload)}">${esc(p.pod)}</a><div class="muted">${esc(p.namespace)} · ${esc(p.kind)}</div></td>
    <td class="state-${esc(p.state)}">${esc(p.state)}</td>${types.map((t) => `<td class="state-${esc(p.types[t] ?? 'IGNORED')}" title="${esc(p.types[t] ?? 'IGNORED')}">${p.types[t] === 'SYNCED' ? '✓' : esc(p.types[t] ?? '–')}</td>`).join('')}</tr>
    ${p.nacks.map((n) => `<tr><td colspan="7" class="issue-error">${esc(n)}</td></tr>`).join('')}`).join('')}</table>`;
}

function issuesHtml(issues: Overview['issues']): string {
  if (!issues.length) return '<p class="empty" data-testid="no-issues">no validation issues</p>';
  return `<ul>${issues.map((i) => `<li class="issue-${esc(i.severity)}" data-testid="issue"><b>${esc(i.resource)}</b>${i.field ? ` <code>${esc(i.field)}</code>` : ''}: ${esc(i.reason)} <span class="muted">${esc(i.code)} · ${esc(i.file.split('/').pop())}${i.line ? `:${i.line}` : ''}</span></li>`).join('')}</ul>`;
}

function placeLocks(): void {
  if (!cy) return;
  const wrap = document.getElementById('graph-wrap');
  if (!wrap) return;
  const seen = new Set<string>();
  cy.edges('.mtls').forEach((e) => {
    const id = e.id();
    seen.add(id);
    let el = locks.get(id);
    if (!el) {
      el = document.createElement('div');
      el.className = 'edge-lock';
      el.dataset.testid = 'edge-lock';
      el.dataset.edge = id;
      el.innerHTML = LOCK;
      wrap.appendChild(el);
      locks.set(id, el);
    }
    // a quarter of the way along the edge, clear of the label at its midpoint
    const a = e.renderedSourceEndpoint();
    const b = e.renderedTargetEndpoint();
    el.style.left = `${a.x + (b.x - a.x) * 0.25}px`;
    el.style.top = `${a.y + (b.y - a.y) * 0.25}px`;
  });
  for (const [id, el] of locks) if (!seen.has(id)) {
    el.remove();
    locks.delete(id);
  }
}

/** Callers on the left, the services they call to the right (breadthfirst from the workloads nobody calls, turned sideways). */
function layout(c: Core): void {
  const roots = c.nodes().roots();
  c.layout({
    name: 'breadthfirst', directed: true, padding: 40, spacingFactor: 1,
    roots: roots.length ? roots : undefined,
    transform: (_n: unknown, p: { x: number; y: number }) => ({ x: p.y * 2.2, y: p.x * 0.9 }),
  } as cytoscape.LayoutOptions).run();
  c.fit(undefined, 40);
}

function drawGraph(g: MeshGraph): void {
  const container = document.getElementById('graph');
  if (!container) return;
  const els = graphElements(g) as ElementDefinition[];
  const ids = els.filter((e) => e.group === 'nodes').map((e) => e.data.id).sort().join(',') + '|' + els.filter((e) => e.group === 'edges').map((e) => e.data.id).sort().join(',');
  if (!cy || cy.container() !== container) {
    locks.clear();
    cy = cytoscape({
      container,
      elements: els,
      wheelSensitivity: 0.3,
      style: [
        { selector: 'node', style: { 'background-color': '#3566d6', label: 'data(label)', 'text-wrap': 'wrap', 'font-size': 11, color: '#1d2433', 'text-valign': 'bottom', 'text-margin-y': 4, width: 26, height: 26 } },
        { selector: 'node.system', style: { 'background-color': '#6a4bb8', shape: 'round-rectangle' } },
        { selector: 'node.unknown', style: { 'background-color': '#9aa3b8' } },
        { selector: 'edge', style: { width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap', 'text-background-color': '#fff', 'text-background-opacity': 0.9, 'text-background-padding': '2px', 'text-background-shape': 'roundrectangle', color: '#30384a' } },
        { selector: 'edge.mtls', style: { 'line-color': '#1f9d55', 'target-arrow-color': '#1f9d55' } },
        { selector: 'edge.plain', style: { 'line-color': '#9aa3b8', 'target-arrow-color': '#9aa3b8', 'line-style': 'dashed' } },
        { selector: 'edge.idle', style: { opacity: 0.45 } },
        { selector: 'edge.errors', style: { 'line-color': '#d64545', 'target-arrow-color': '#d64545' } },
      ],
    });
    layout(cy);
    cy.on('render viewport position', placeLocks);
    cy.on('tap', 'node', (ev) => {
      const d = ev.target.data() as { namespace: string; workload: string };
      if (d.workload !== 'unknown') location.hash = `#/workload/${d.namespace}/${d.workload}`;
    });
    nodeSet = ids;
    (window as unknown as { tsmeshGraph: Core }).tsmeshGraph = cy;
    return;
  }
  if (ids !== nodeSet) {
    cy.elements().remove();
    cy.add(els);
    layout(cy);
    nodeSet = ids;
  } else {
    for (const e of els) cy.getElementById(String(e.data.id)).data(e.data).classes(e.classes ?? '');
  }
  placeLocks();
}

async function overview(): Promise<void> {
  if (!document.getElementById('graph')) {
    app.innerHTML = `<div class="grid">
      <section class="card"><h2>Service graph</h2><div id="graph-wrap"><div id="graph" data-testid="graph"></div></div>
        <table id="edges">${EDGE_HEAD}</table></section>
      <div style="display:grid;gap:14px;align-content:start">
        <section class="card"><h2>Traffic split by version</h2><div id="splits"></div></section>
        <section class="card"><h2>Proxies</h2><div id="proxies"></div></section>
        <section class="card"><h2>Config issues</h2><div id="issues"></div></section>
      </div></div>`;
    cy = undefined;
  }
  const o = await api<Overview>('/api/overview');
  header(o.graph.source, o.graph.note);
  drawGraph(o.graph);
  document.getElementById('edges')!.innerHTML = EDGE_HEAD + edgeRows(o.graph.edges, o.graph);
  document.getElementById('splits')!.innerHTML = splitHtml(o.splits);
  document.getElementById('proxies')!.innerHTML = proxiesHtml(o.proxies);
  document.getElementById('issues')!.innerHTML = issuesHtml(o.issues);
}

async function workload(ns: string, name: string): Promise<void> {
  cy = undefined;
  const w = await api<WorkloadView>(`/api/workload/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
  header(w.source, w.note);
  const c = w.config;
  app.innerHTML = `<section class="card"><h2>Workload</h2><h1 style="margin:0;font-size:20px" data-testid="workload-title">${esc(w.workload.workload)} <span class="muted">${esc(w.workload.namespace)} · app ${esc(w.workload.app)} · version ${esc(w.workload.version)}</span></h1></section>
    <section class="card"><h2>Inbound</h2><table data-testid="inbound">${EDGE_HEAD}${edgeRows(w.inbound)}</table></section>
    <section class="card"><h2>Outbound</h2><table data-testid="outbound">${EDGE_HEAD}${edgeRows(w.outbound)}</table></section>
    <section class="card"><h2>Proxies</h2>${proxiesHtml(w.proxies)}</section>
    ${c ? `<section class="card"><h2>Listeners <span class="muted">${esc(c.versions.Listener ?? '')}</span></h2><table data-testid="listeners"><tr><th>name</th><th>address</th><th class="num">filter chains</th></tr>${c.listeners.map((l) => `<tr><td>${esc(l.name)}</td><td>${esc(l.address)}</td><td class="num">${l.chains}</td></tr>`).join('')}</table></section>
    <section class="card"><h2>Routes <span class="muted">${esc(c.versions.RouteConfiguration ?? '')}</span></h2><table data-testid="routes"><tr><th>name</th><th>virtual host</th><th>routes</th></tr>${c.routes.flatMap((r) => r.virtualHosts.map((vh) => `<tr><td>${esc(r.name)}</td><td>${esc(vh.name)}</td><td>${vh.routes.map((x) => `<div><code>${esc(x)}</code></div>`).join('')}</td></tr>`)).join('')}</table></section>
    <section class="card"><h2>Clusters <span class="muted">${esc(c.versions.Cluster ?? '')}</span></h2><table data-testid="clusters"><tr><th>name</th><th>type</th><th class="num">endpoints</th></tr>${c.clusters.map((x) => `<tr><td>${esc(x.name)}</td><td>${esc(x.type)}</td><td class="num">${x.endpoints ?? '-'}</td></tr>`).join('')}</table></section>`
    : '<section class="card"><p class="empty">no proxy of this workload is connected: no config to show</p></section>'}`;
}

async function traces(): Promise<void> {
  cy = undefined;
  const t = await api<{ traces: TraceSummary[]; receiver: string; limit: number }>('/api/traces');
  header(undefined, undefined);
  app.innerHTML = `<section class="card"><h2>Traces</h2><p class="muted">OTLP/HTTP receiver: <code>${esc(t.receiver)}</code> (the last ${t.limit} traces kept in memory)</p>
    ${t.traces.length ? `<table data-testid="traces"><tr><th>trace</th><th>root span</th><th>services</th><th class="num">spans</th><th class="num">duration</th><th>started</th></tr>${t.traces.map((x) => `<tr data-testid="trace" data-services="${esc(x.services.join(','))}">
      <td><a href="#/trace/${esc(x.traceId)}"><code>${esc(x.traceId.slice(0, 16))}</code></a></td><td>${esc(x.root)}</td><td>${esc(x.services.join(' → '))}</td><td class="num">${x.spans}</td><td class="num">${formatMs(x.durationMs)}</td><td>${new Date(x.startMs).toLocaleTimeString()}</td></tr>`).join('')}</table>`
      : '<p class="empty">no trace received yet</p>'}</section>`;
}

async function trace(id: string): Promise<void> {
  cy = undefined;
  const t = await api<{ traceId: string; spans: SpanView[] }>(`/api/traces/${encodeURIComponent(id)}`);
  header(undefined, undefined);
  const start = Math.min(...t.spans.map((s) => s.startMs));
  const end = Math.max(...t.spans.map((s) => s.startMs + s.durationMs));
  const total = Math.max(end - start, 0.001);
  app.innerHTML = `<section class="card"><h2>Trace <code>${esc(t.traceId)}</code> <span class="muted">${formatMs(total)}, ${t.spans.length} spans</span></h2>
    <div class="waterfall" data-testid="waterfall">${spanTree(t.spans).map(({ span, depth }) => `<div class="row" data-testid="span" data-service="${esc(span.service)}" title="${esc(Object.entries(span.attributes).map(([k, v]) => `${k}=${v}`).join('\n'))}">
      <div style="padding-left:${depth * 14}px">${esc(span.service)} <span class="muted">${esc(span.kind.toLowerCase())} ${esc(span.name)}</span></div>
      <div class="track"><div class="span ${span.error ? 'err' : ''} ${span.kind === 'CLIENT' ? 'client' : ''}" style="left:${((span.startMs - start) / total) * 100}%;width:${(span.durationMs / total) * 100}%"></div></div>
      <div class="num muted">${formatMs(span.durationMs)}</div></div>`).join('')}</div></section>`;
}

async function route(): Promise<void> {
  clearTimeout(timer);
  const h = location.hash.replace(/^#/, '') || '/';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('active', a.dataset.nav === (h.startsWith('/trace') ? 'traces' : 'graph'));
  let again = 2000;
  try {
    let m: RegExpExecArray | null;
    if ((m = /^\/workload\/([^/]+)\/([^/]+)$/.exec(h))) {
      await workload(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
      again = 3000;
    } else if (h === '/traces') {
      await traces();
      again = 3000;
    } else if ((m = /^\/trace\/([0-9a-f]+)$/.exec(h))) {
      await trace(m[1]);
      again = 0;
    } else await overview();
  } catch (err) {
    showError(err);
  }
  if (again) timer = setTimeout(() => void route(), again);
}

window.addEventListener('hashchange', () => void route());
void route();
// exposed for the browser test: the labels drawn on the canvas
(window as unknown as { tsmeshEdgeLabel: typeof edgeLabel }).tsmeshEdgeLabel = edgeLabel;
