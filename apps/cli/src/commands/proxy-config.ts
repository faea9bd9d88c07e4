/**
 * `tsmesh proxy-config cluster|listener|route|endpoint|secret|bootstrap|log <pod>` tables with
 * istioctl's columns, over Envoy JSON: the proxy's own admin (`/config_dump`: Envoy's ConfigDump
 * with typed `@type` entries; `/clusters?format=json`; `/logging`) or the control plane's view of
 * the same proxy (`/debug/config_dump`).
 */
import { X509Certificate } from 'node:crypto';
import { stringify } from 'yaml';

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('     ').trimEnd()).join('\n') + '\n';
}

/** `name.namespace` of the Istio resource in Istio's `filter_metadata.istio.config` path, or ''. */
function istioConfig(metadata: J | undefined): string {
  const cfg = metadata?.filter_metadata?.istio?.config;
  // plain JSON (Envoy's rendering of a Struct) or the Struct's own fields
  const path = (typeof cfg === 'string' ? cfg : metadata?.filter_metadata?.istio?.fields?.config?.stringValue ?? metadata?.filter_metadata?.istio?.fields?.config?.string_value) as string | undefined;
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

/** A wrapper type's value: bare (Envoy's proto3 JSON) or `{value}` (the message form). */
function unwrap(v: unknown): unknown {
  return v !== null && typeof v === 'object' ? (v as J).value : v;
}

function chainMatch(m: J | undefined): string {
  if (!m || Object.keys(m).length === 0) return 'ALL';
  const out: string[] = [];
  if (m.server_names?.length) out.push(`SNI: ${m.server_names.join(',')}`);
  if (m.transport_protocol) out.push(`Trans: ${m.transport_protocol}`);
  if (m.application_protocols?.length) out.push(`App: ${m.application_protocols.join(',')}`);
  const port = unwrap(m.destination_port);
  if (port !== undefined) out.push(`Addr: *:${port}`);
  if (m.prefix_ranges?.length) out.push(`Addr: ${m.prefix_ranges.map((p: J) => `${p.address_prefix}/${unwrap(p.prefix_len) ?? 32}`).join(',')}`);
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

/** istioctl's endpoint table from the proxy's `/clusters?format=json`: health as the proxy sees it. */
export function endpointStatusTable(statuses: J): string {
  const rows: string[][] = [];
  for (const c of statuses.cluster_statuses ?? []) {
    for (const h of c.host_statuses ?? []) {
      const addr = typeof h.address === 'string' ? h.address : `${h.address?.socket_address?.address}:${h.address?.socket_address?.port_value}`;
      rows.push([addr, String(h.health_status?.eds_health_status ?? 'HEALTHY'), h.health_status?.failed_outlier_check ? 'FAILED' : 'OK', String(c.name)]);
    }
  }
  rows.sort((a, b) => a[3].localeCompare(b[3]) || a[0].localeCompare(b[0]));
  return table(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows);
}

/** PEM of an Envoy DataSource (`inline_bytes` base64 or `inline_string`). */
function pemOf(d: J | undefined): string {
  if (!d) return '';
  if (typeof d.inline_string === 'string') return d.inline_string;
  if (typeof d.inline_bytes === 'string') return Buffer.from(d.inline_bytes, 'base64').toString('utf8');
  return '';
}

/** istioctl's secret table: RESOURCE NAME, TYPE, STATUS, VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE. */
export function secretTable(secrets: J[], now = new Date()): string {
  const rows: string[][] = [];
  for (const entry of secrets) {
    const s = entry.secret ?? entry;
    const name = String(entry.name ?? s.name);
    const tls = s.tls_certificate;
    const pem = tls ? pemOf(tls.certificate_chain) : pemOf(s.validation_context?.trusted_ca);
    const type = tls ? 'Cert Chain' : 'CA';
    let cert: X509Certificate | undefined;
    try {
      cert = pem ? new X509Certificate(pem) : undefined;
    } catch {
      cert = undefined;
    }
    if (!cert) {
      rows.push([name, type, 'ACTIVE', 'false', '-', '-', '-']);
      continue;
    }
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    const valid = now >= notBefore && now <= notAfter;
    rows.push([name, type, 'ACTIVE', String(valid), cert.serialNumber.toLowerCase(), notAfter.toISOString().replace('.000Z', 'Z'), notBefore.toISOString().replace('.000Z', 'Z')]);
  }
  return table(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], rows);
}

/** Envoy's `ConfigDump` (`{configs: [{"@type": …ConfigDump}]}`) as the proxy's admin serves it. */
export interface EnvoyConfigDump {
  configs: J[];
}

function dumpOfType(dump: EnvoyConfigDump, name: string): J | undefined {
  return dump.configs.find((c) => String(c['@type'] ?? '').endsWith(`.${name}`));
}

/** The resources of one kind in an Envoy ConfigDump (what the control plane's view lists for the same kind). */
export function resourcesOfDump(dump: EnvoyConfigDump, kind: string): unknown {
  const k = kind.replace(/s$/, '');
  switch (k) {
    case 'cluster': {
      const d = dumpOfType(dump, 'ClustersConfigDump');
      return [...(d?.static_clusters ?? []), ...(d?.dynamic_active_clusters ?? [])].map((c: J) => c.cluster);
    }
    case 'listener': {
      const d = dumpOfType(dump, 'ListenersConfigDump');
      return [...(d?.static_listeners ?? []).map((l: J) => l.listener), ...(d?.dynamic_listeners ?? []).map((l: J) => l.active_state?.listener).filter(Boolean)];
    }
    case 'route': {
      const d = dumpOfType(dump, 'RoutesConfigDump');
      return [...(d?.static_route_configs ?? []), ...(d?.dynamic_route_configs ?? [])].map((r: J) => r.route_config);
    }
    case 'endpoint': {
      const d = dumpOfType(dump, 'EndpointsConfigDump');
      return [...(d?.static_endpoint_configs ?? []), ...(d?.dynamic_endpoint_configs ?? [])].map((e: J) => e.endpoint_config);
    }
    case 'secret': {
      const d = dumpOfType(dump, 'SecretsConfigDump');
      return [...(d?.static_secrets ?? []), ...(d?.dynamic_active_secrets ?? [])];
    }
    case 'bootstrap':
      return dumpOfType(dump, 'BootstrapConfigDump') ?? {};
    case 'all':
      return dump;
    default:
      throw new Error(`unknown kind "${kind}": expected cluster, listener, route, endpoint, secret, bootstrap, log or all`);
  }
}

/** istioctl's filters of `proxy-config cluster|listener|route|endpoint`. */
export interface ProxyConfigFilter {
  fqdn?: string;
  port?: string;
  subset?: string;
  direction?: string;
  address?: string;
  name?: string;
  cluster?: string;
  status?: string;
}

/** Keeps the resources matching istioctl's flags (`--fqdn`, `--port`, `--subset`, `--direction`, `--address`, `--name`, `--cluster`, `--status`). */
export function filterResources(kind: string, resources: J[], f: ProxyConfigFilter): J[] {
  const k = kind.replace(/s$/, '');
  if (k === 'cluster') {
    return resources.filter((c) => {
      const [direction, port, subset, fqdn] = String(c.name).split('|');
      if (f.fqdn && !(fqdn ?? String(c.name)).startsWith(f.fqdn)) return false;
      if (f.port && port !== f.port) return false;
      if (f.subset && subset !== f.subset) return false;
      if (f.direction && direction !== f.direction) return false;
      return true;
    });
  }
  if (k === 'listener') {
    return resources.filter((l) => {
      const a = l.address?.socket_address ?? {};
      if (f.port && String(a.port_value) !== f.port) return false;
      if (f.address && a.address !== f.address) return false;
      return true;
    });
  }
  if (k === 'route') return f.name ? resources.filter((r) => r.name === f.name) : resources;
  return resources;
}

/** Keeps the endpoints of `/clusters?format=json` matching `--cluster`, `--address`, `--port`, `--status`. */
export function filterEndpointStatuses(statuses: J, f: ProxyConfigFilter): J {
  const clusters = (statuses.cluster_statuses ?? []).filter((c: J) => !f.cluster || c.name === f.cluster).map((c: J) => ({
    ...c,
    host_statuses: (c.host_statuses ?? []).filter((h: J) => {
      const addr = typeof h.address === 'string' ? h.address : `${h.address?.socket_address?.address}:${h.address?.socket_address?.port_value}`;
      if (f.address && !addr.startsWith(`${f.address}:`)) return false;
      if (f.port && !addr.endsWith(`:${f.port}`)) return false;
      if (f.status && String(h.health_status?.eds_health_status ?? 'HEALTHY') !== f.status.toUpperCase()) return false;
      return true;
    }),
  })).filter((c: J) => c.host_statuses.length > 0);
  return { cluster_statuses: clusters };
}

/**
 * istioctl's `--level`: `debug` (every logger) or `logger:level,logger:level`; the query of
 * Envoy's `POST /logging`.
 */
export function loggingQuery(level: string): string {
  const parts = level.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error('--level: empty; expected a level (trace, debug, info, warning, error, critical, off) or logger:level,…');
  const q = new URLSearchParams();
  for (const p of parts) {
    const [a, b] = p.includes(':') ? p.split(':', 2) : ['level', p];
    if (!/^(trace|debug|info|warning|warn|error|critical|off)$/.test(b)) throw new Error(`--level: "${b}" is not a level (trace, debug, info, warning, error, critical, off)`);
    q.append(a, b);
  }
  return q.toString();
}

const TABLES: Record<string, (r: J[]) => string> = {
  cluster: clusterTable, clusters: clusterTable,
  listener: listenerTable, listeners: listenerTable,
  route: routeTable, routes: routeTable,
  endpoint: endpointTable, endpoints: endpointTable,
  secret: (r) => secretTable(r), secrets: (r) => secretTable(r),
};

/** Renders one kind's resources as istioctl does: `short` (the table), `json` or `yaml`. */
export function renderProxyConfig(kind: string, resources: unknown, output: string): string {
  if (output === 'json') return JSON.stringify(resources, null, 2) + '\n';
  if (output === 'yaml') return stringify(resources);
  if (output !== 'short') throw new Error(`unknown output "${output}": expected short, json or yaml`);
  const t = TABLES[kind];
  // Kinds without a table (bootstrap, all) print their JSON, as istioctl does.
  if (!t || !Array.isArray(resources)) return JSON.stringify(resources, null, 2) + '\n';
  return t(resources as J[]);
}
