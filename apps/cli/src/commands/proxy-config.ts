/**
 * `tsmesh proxy-config cluster|listener|route|endpoint <pod>` tables with istioctl's columns, over
 * Envoy JSON (the `/config_dump` shape: snake_case fields, `@type` on each resource).
 */
import { stringify } from 'yaml';

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('     ').trimEnd()).join('\n') + '\n';
}

/** `name.namespace` of the Istio resource in Istio's `filter_metadata.istio.config` path, or ''. */
function istioConfig(metadata: J | undefined): string {
  const path = metadata?.filter_metadata?.istio?.config as string | undefined;
  const m = path ? /\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(path) : null;
  return m ? `${m[2]}.${m[1]}` : '';
}

/** istioctl's cluster table: SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE. */
export function clusterTable(clusters: J[]): string {
  const rows = clusters.map((c) => {
    const parts = String(c.name).split('|');
    const type = String(c.type ?? (c.cluster_type ? 'CUSTOM' : 'EDS'));
    if (parts.length === 4) return [parts[3], parts[1], parts[2] || '-', parts[0], type, istioConfig(c.metadata)];
    return [String(c.name), '-', '-', '-', type, istioConfig(c.metadata)];
  });
  return table(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'], rows);
}

function chainMatch(m: J | undefined): string {
  if (!m || Object.keys(m).length === 0) return 'ALL';
  const out: string[] = [];
  if (m.server_names?.length) out.push(`SNI: ${m.server_names.join(',')}`);
  if (m.transport_protocol) out.push(`Trans: ${m.transport_protocol}`);
  if (m.application_protocols?.length) out.push(`App: ${m.application_protocols.join(',')}`);
  if (m.destination_port?.value !== undefined) out.push(`Addr: *:${m.destination_port.value}`);
  if (m.prefix_ranges?.length) out.push(`Addr: ${m.prefix_ranges.map((p: J) => `${p.address_prefix}/${p.prefix_len?.value ?? 32}`).join(',')}`);
  return out.join('; ') || 'ALL';
}

function chainDestination(chain: J): string {
  for (const f of chain.filters ?? []) {
    const t = f.typed_config ?? {};
    if (t.rds?.route_config_name) return `Route: ${t.rds.route_config_name}`;
    if (t.route_config) return `Inline Route: ${t.route_config.name ?? ''}`.trimEnd();
    if (typeof t.cluster === 'string') return `Cluster: ${t.cluster}`;
    if (t.weighted_clusters?.clusters?.length) return `Clusters: ${t.weighted_clusters.clusters.map((c: J) => c.name).join(',')}`;
  }
  return 'Non-HTTP/Non-TCP';
}

/** istioctl's listener table: ADDRESSES, PORT, MATCH, DESTINATION — one row per filter chain. */
export function listenerTable(listeners: J[]): string {
  const rows: string[][] = [];
  for (const l of listeners) {
    const a = l.address?.socket_address ?? {};
    const addr = String(a.address ?? '');
    const port = String(a.port_value ?? '');
    for (const ch of l.filter_chains ?? []) rows.push([addr, port, chainMatch(ch.filter_chain_match), chainDestination(ch)]);
    if (l.default_filter_chain) rows.push([addr, port, 'ALL', chainDestination(l.default_filter_chain)]);
    if (!l.filter_chains?.length && !l.default_filter_chain) rows.push([addr, port, 'ALL', 'Non-HTTP/Non-TCP']);
  }
  return table(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows);
}

function routeMatch(m: J | undefined): string {
  if (!m) return '/*';
  if (m.prefix !== undefined) return `${m.prefix || '/'}*`;
  if (m.path !== undefined) return String(m.path);
  if (m.path_separated_prefix !== undefined) return `${m.path_separated_prefix}/*`;
  if (m.safe_regex?.regex !== undefined) return String(m.safe_regex.regex);
  return '/*';
}

/** istioctl's route table: NAME, VHOST NAME, DOMAINS, MATCH, VIRTUAL SERVICE — one row per route. */
export function routeTable(routes: J[]): string {
  const rows: string[][] = [];
  for (const rc of routes) {
    for (const vh of rc.virtual_hosts ?? []) {
      const domains: string[] = vh.domains ?? [];
      // The shortest name without a port and not an address stands for the list, as istioctl shows it.
      const names = domains.filter((d) => !d.includes(':') && !/^[\d.]+$/.test(d)).sort((x, y) => x.length - y.length);
      const shown = domains.length === 0 ? '' : domains.length === 1 ? domains[0] : `${names[0] ?? domains[0]} +${domains.length - 1} more...`;
      for (const r of vh.routes ?? []) rows.push([String(rc.name), String(vh.name), shown, routeMatch(r.match), istioConfig(r.metadata) || (r.direct_response ? '404' : '')]);
    }
  }
  return table(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'], rows);
}

/** istioctl's endpoint table: ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER. */
export function endpointTable(assignments: J[]): string {
  const rows: string[][] = [];
  for (const a of assignments) {
    for (const loc of a.endpoints ?? []) {
      for (const e of loc.lb_endpoints ?? []) {
        const s = e.endpoint?.address?.socket_address ?? {};
        const p = e.endpoint?.address?.pipe?.path;
        rows.push([p ? `unix://${p}` : `${s.address}:${s.port_value}`, String(e.health_status ?? 'HEALTHY'), 'OK', String(a.cluster_name)]);
      }
    }
  }
  return table(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows);
}

const TABLES: Record<string, (r: J[]) => string> = {
  cluster: clusterTable, clusters: clusterTable,
  listener: listenerTable, listeners: listenerTable,
  route: routeTable, routes: routeTable,
  endpoint: endpointTable, endpoints: endpointTable,
};

/** Renders one kind's resources as istioctl does: `short` (the table), `json` or `yaml`. */
export function renderProxyConfig(kind: string, resources: unknown, output: string): string {
  if (output === 'json') return JSON.stringify(resources, null, 2) + '\n';
  if (output === 'yaml') return stringify(resources);
  if (output !== 'short') throw new Error(`unknown output "${output}": expected short, json or yaml`);
  const t = TABLES[kind];
  // Kinds without a table (secrets, all) print their JSON, as before.
  if (!t || !Array.isArray(resources)) return JSON.stringify(resources, null, 2) + '\n';
  return t(resources as J[]);
}
