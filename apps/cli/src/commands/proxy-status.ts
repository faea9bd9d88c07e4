/** `tsmesh proxy-status` and `tsmesh proxy-config`: what the control plane knows of each proxy. */

/** One proxy as the control plane's `/debug/syncz` reports it. */
export interface ProxyStatusEntry {
  proxy: string;
  kind?: string;
  namespace?: string;
  pod?: string;
  ip?: string;
  connectedAt?: string;
  pushVersion?: string;
  types: Record<string, { state: string; sent?: string; acked?: string; nack?: { version: string; message: string } }>;
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

const TYPES = ['CDS', 'LDS', 'EDS', 'RDS', 'SDS'] as const;

/** The `istioctl proxy-status`-style table. */
export function formatProxyStatus(entries: ProxyStatusEntry[]): string {
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
  const nacks = entries.flatMap((e) => Object.entries(e.types).filter(([, s]) => s.nack && s.state === 'NACKED').map(([t, s]) => `${e.proxy} ${t} NACK of ${s.nack!.version}: ${s.nack!.message}`));
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
