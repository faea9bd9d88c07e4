/** `tsmesh proxy-status` and `tsmesh proxy-config`: what the control plane knows of each proxy. */
import type { PushRecord, PushTarget } from '@tsmesh/xds';

export type { PushTarget } from '@tsmesh/xds';

/** One proxy as the control plane's `/debug/syncz` reports it. */
export interface ProxyStatusEntry {
  proxy: string;
  kind?: string;
  namespace?: string;
  pod?: string;
  ip?: string;
  connectedAt?: string;
  pushVersion?: string;
  types: Record<string, { state: string; sent?: string; acked?: string; nack?: { version: string; message: string; envoyFilters?: string[] } }>;
}

/** A request to the control plane failed or answered something unexpected. */
export class ControlPlaneRequestError extends Error {
  readonly code = 'CLI_CONTROL_PLANE_REQUEST';
}

/** GETs JSON from the control plane's monitoring port. */
export async function getJson<T>(base: string, path: string): Promise<T> {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new ControlPlaneRequestError(`cannot reach the control plane at ${url.origin}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.trim();
    try {
      detail = (JSON.parse(text) as { error?: string }).error ?? detail;
    } catch {
      // not JSON
    }
    throw new ControlPlaneRequestError(`${url.pathname}: HTTP ${res.status}: ${detail}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ControlPlaneRequestError(`${url.pathname}: answer is not JSON`);
  }
}

const ALL_TYPES = ['CDS', 'LDS', 'EDS', 'RDS', 'VHDS', 'SDS'] as const;

/** The `istioctl proxy-status`-style table (a VHDS column when some proxy takes its virtual hosts by VHDS). */
export function formatProxyStatus(entries: ProxyStatusEntry[]): string {
  const TYPES = ALL_TYPES.filter((t) => t !== 'VHDS' || entries.some((e) => e.types.VHDS));
  const rows = [['NAME', 'KIND', ...TYPES, 'VERSION']];
  const display = (e: ProxyStatusEntry) => (e.pod && e.namespace ? `${e.pod}.${e.namespace}` : e.proxy);
  for (const e of [...entries].sort((a, b) => display(a).localeCompare(display(b)))) {
    const name = display(e);
    const cells = TYPES.map((t) => {
      const s = e.types[t];
      if (!s) return 'IGNORED';
      return s.state === 'NACKED' ? `NACKED (${s.nack?.version ?? s.sent})` : s.state;
    });
    rows.push([name, e.kind ?? '-', ...cells, e.pushVersion ?? '-']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
  const nacks = entries.flatMap((e) => Object.entries(e.types).filter(([, s]) => s.nack && s.state === 'NACKED').map(([t, s]) => `${e.proxy} ${t} NACK of ${s.nack!.version}: ${s.nack!.message}${s.nack!.envoyFilters?.length ? ` (patched by EnvoyFilter ${s.nack!.envoyFilters.join(', ')})` : ''}`));
  return [...lines, ...(nacks.length ? ['', ...nacks] : [])].join('\n') + '\n';
}

/** Envoy JSON of one proxy, by resource kind, as `/debug/config_dump` serves it. */
export interface ConfigDump {
  proxy: string;
  versions: Record<string, string>;
  resources: Record<string, unknown[]> | unknown[];
}

/** Resource kinds accepted by `tsmesh proxy-config`, mapped to xDS type short names. */
export const CONFIG_KINDS: Record<string, string> = {
  listener: 'Listener', listeners: 'Listener',
  route: 'RouteConfiguration', routes: 'RouteConfiguration',
  cluster: 'Cluster', clusters: 'Cluster',
  endpoint: 'ClusterLoadAssignment', endpoints: 'ClusterLoadAssignment',
  secret: 'Secret', secrets: 'Secret',
  all: '',
};

/** Picks the resources of one kind from a config dump (keys are matched by their message name). */
export function selectKind(dump: ConfigDump, kind: string): unknown {
  const want = CONFIG_KINDS[kind];
  if (want === undefined) throw new Error(`unknown kind "${kind}": expected one of ${Object.keys(CONFIG_KINDS).join(', ')}`);
  if (!want) return dump;
  const res = dump.resources;
  if (Array.isArray(res)) return res.filter((r) => String((r as { '@type'?: string })['@type'] ?? '').endsWith(`.${want}`));
  const key = Object.keys(res).find((k) => k.endsWith(`.${want}`) || k === want);
  return key ? res[key] : [];
}

/** One proxy as `/debug/syncz?proxyID=` reports it. */
export interface ProxyDetail extends ProxyStatusEntry {
  push?: number;
  resources: { type: string; name: string; version: string; bytes?: number; changedAt?: string; sinceMs?: number }[];
  pushes: { push: number; version: string; at: string; trigger: string[]; target: PushTarget }[];
}

/** One push as `/debug/push_status` reports it (the contract is declared in @tsmesh/xds). */
export type PushRecordView = PushRecord;

/** Milliseconds as a short age (`850ms`, `12s`, `3m4s`, `2h5m`). */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd());
}

/** `tsmesh proxy-status <pod>`: the proxy's types, then every resource with its version and the time since it changed. */
export function formatProxyDetail(d: ProxyDetail): string {
  const lines = [`${d.pod && d.namespace ? `${d.pod}.${d.namespace}` : d.proxy} (${d.kind ?? 'proxy'}, ${d.proxy})${d.push !== undefined ? `, holds push ${d.push}` : ''}`];
  lines.push(...table([['TYPE', 'STATE', 'SENT', 'ACKED'], ...ALL_TYPES.filter((t) => d.types[t]).map((t) => [t, d.types[t].state, d.types[t].sent ?? '-', d.types[t].acked ?? '-'])]));
  lines.push('');
  const order = ['CDS', 'EDS', 'LDS', 'RDS', 'VHDS', 'SDS'];
  const res = [...d.resources].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  lines.push(...table([['TYPE', 'NAME', 'VERSION', 'BYTES', 'CHANGED'], ...res.map((r) => [r.type, r.name, r.version, r.bytes === undefined ? '-' : String(r.bytes), r.sinceMs === undefined ? '-' : `${formatAge(r.sinceMs)} ago`])]));
  if (d.pushes.length) {
    lines.push('', 'Recent pushes to this proxy:');
    for (const p of d.pushes) lines.push(`  #${p.push} ${p.at} ${p.target.types.join(',')} — ${p.target.why}`);
  }
  return lines.join('\n') + '\n';
}

/** `tsmesh proxy-status --pushes`: each push with its trigger, steps, and whom it reached and why. */
export function formatPushes(pushes: PushRecordView[], maxTargets = 5): string {
  if (!pushes.length) return 'no pushes recorded yet\n';
  const lines: string[] = [];
  for (const p of pushes) {
    const st = p.steps;
    const ms = (k: keyof PushRecord['steps']) => (typeof st[k] === 'number' ? `${st[k]}ms` : '-');
    lines.push(`push #${p.push} ${p.version} at ${p.at}: ${p.trigger.length ? p.trigger.join(', ') : '(no trigger)'}${p.events > 1 ? ` (${p.events} events merged)` : ''}`);
    lines.push(`  reached ${p.pushed} of ${p.proxies} proxies (${p.unchanged} unchanged${p.failed.length ? `, ${p.failed.length} failed` : ''}), ${p.bytes} bytes`);
    lines.push(`  steps: debounce ${ms('debounceMs')}, validate ${ms('validateMs')}, push context ${ms('pushContextMs')}, cache eviction ${ms('invalidateMs')} (${st.evicted ?? 0} entries), generate ${ms('generateMs')}, snapshots ${ms('snapshotMs')}, all generated after ${p.durationMs}ms, all sent after ${ms('sendMs')}, converged after ${ms('convergedMs')}`);
    for (const t of p.targets.slice(0, maxTargets)) {
      const sent = Object.entries(t.sent).map(([k, v]) => `${k} ${v.resources} res ${v.bytes} B in ${v.sendMs}ms`).join('; ');
      const acked = Object.keys(t.acked).length ? `ACKed ${Object.entries(t.acked).map(([k, v]) => `${k} +${v}ms`).join(', ')}` : 'not ACKed yet';
      lines.push(`    ${t.proxy}: ${t.types.join(',')} — ${t.why}${t.merged ? ` (merged pushes ${t.merged.join(',')})` : ''}; ${sent || 'not sent yet'}; ${acked}`);
    }
    if (p.targets.length > maxTargets) lines.push(`    … and ${p.targets.length - maxTargets} more`);
    for (const f of p.failed) lines.push(`    FAILED ${f.proxy}: ${f.error}`);
  }
  return lines.join('\n') + '\n';
}

/** Istio and Kubernetes kinds `tsmesh wait` accepts, by lower-case name. */
const WAIT_KINDS = ['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Service', 'EndpointSlice', 'Pod', 'Secret', 'Ingress', 'Namespace'];

/** `Kind/ns/name` with the kind spelled as the control plane keys it; throws naming the problem. */
export function parseWaitTarget(ref: string): string {
  const parts = ref.split('/');
  if (parts.length !== 3 || parts.some((p) => !p)) throw new Error(`"${ref}" is not <kind>/<namespace>/<name>`);
  const kind = WAIT_KINDS.find((k) => k.toLowerCase() === parts[0].toLowerCase() || `${k.toLowerCase()}s` === parts[0].toLowerCase());
  if (!kind) throw new Error(`unknown kind "${parts[0]}": expected one of ${WAIT_KINDS.join(', ')}`);
  return `${kind}/${parts[1]}/${parts[2]}`;
}

/** What `/debug/config_status` answers. */
export interface ConfigStatus {
  resource: string;
  state: 'pending' | 'pushing' | 'synced' | 'waiting' | 'unknown';
  push?: number;
  version?: string;
  affected: number;
  acked: number;
  waiting: string[];
}

/** Polls until every proxy the last change of `key` reached has ACKed it; resolves with the last status and whether it landed. */
export async function waitForConfig(base: string, key: string, timeoutMs: number, pollMs = 200): Promise<{ ok: boolean; status: ConfigStatus }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await getJson<ConfigStatus>(base, `/debug/config_status?resource=${encodeURIComponent(key)}`);
    if (status.state === 'synced') return { ok: true, status };
    if (Date.now() >= until) return { ok: false, status };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
