/** `tsmesh proxy-config <kind> <pod>`: reads the proxy's admin (or the control plane's view) and renders it. */
import { stringify } from 'yaml';
import { getJson, selectKind, type ConfigDump, type ProxyStatusEntry } from './proxy-status';
import {
  clusterTable, endpointStatusTable, filterEndpointStatuses, filterResources, listenerTable, loggingQuery, renderProxyConfig,
  resourcesOfDump, routeTable, secretTable, type EnvoyConfigDump, type ProxyConfigFilter,
} from './proxy-config';
import { fetchText, parsePodRef, resolvePod, withPodPort } from './pod-access';

/** Flags of `tsmesh proxy-config`. */
export interface ProxyConfigOptions extends ProxyConfigFilter {
  namespace?: string;
  output: string;
  source: string;
  admin?: string;
  context?: string;
  level?: string;
  reset?: boolean;
}

/** The proxy's admin port (Istio's 15000). */
export const ADMIN_PORT = 15000;

const KINDS: Record<string, string> = {
  cluster: 'cluster', clusters: 'cluster', c: 'cluster',
  listener: 'listener', listeners: 'listener', l: 'listener',
  route: 'route', routes: 'route', r: 'route',
  endpoint: 'endpoint', endpoints: 'endpoint', ep: 'endpoint',
  secret: 'secret', secrets: 'secret', s: 'secret',
  bootstrap: 'bootstrap', b: 'bootstrap',
  log: 'log', all: 'all',
};

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function out(value: unknown, output: string): string {
  return output === 'yaml' ? stringify(value) : JSON.stringify(value, null, 2) + '\n';
}

function checkOutput(output: string): void {
  if (!['short', 'json', 'yaml'].includes(output)) throw new Error(`unknown output "${output}": expected short, json or yaml`);
}

/** `all` as istioctl prints it: the cluster, listener, route and secret tables, one after the other. */
function allTables(get: (kind: string) => J[]): string {
  return [clusterTable(get('cluster')), listenerTable(get('listener')), routeTable(get('route')), secretTable(get('secret'))].join('\n');
}

/** Renders one kind read from the proxy's admin at `base`. */
export async function proxyConfigFromAdmin(base: string, kind: string, o: ProxyConfigOptions): Promise<string> {
  if (kind === 'log') {
    if (o.level || o.reset) {
      const query = o.reset ? 'level=warning' : loggingQuery(o.level!);
      const body = await fetchText(base, `/logging?${query}`, 'POST');
      return o.output === 'short' ? body : out(loggersOf(body), o.output);
    }
    const body = await fetchText(base, '/logging');
    return o.output === 'short' ? body : out(loggersOf(body), o.output);
  }
  if (kind === 'endpoint') {
    const statuses = filterEndpointStatuses(JSON.parse(await fetchText(base, '/clusters?format=json')) as J, o);
    return o.output === 'short' ? endpointStatusTable(statuses) : out(statuses, o.output);
  }
  const dump = JSON.parse(await fetchText(base, `/config_dump${kind === 'all' ? '?include_eds' : ''}`)) as EnvoyConfigDump;
  if (kind === 'all') return o.output === 'short' ? allTables((k) => resourcesOfDump(dump, k) as J[]) : out(dump, o.output);
  const resources = resourcesOfDump(dump, kind);
  if (kind === 'bootstrap') return out(resources, o.output === 'yaml' ? 'yaml' : 'json');
  const kept = filterResources(kind, resources as J[], o);
  return renderProxyConfig(kind, kept, o.output);
}

/** `active loggers:\n  name: level` → `{name: level}`. */
export function loggersOf(body: string): Record<string, string> {
  const outp: Record<string, string> = {};
  for (const m of body.matchAll(/^\s+([^:\s]+):\s*(\S+)\s*$/gm)) outp[m[1]] = m[2];
  return outp;
}

/** Renders one kind from the control plane's `/debug/config_dump` of the proxy. */
async function proxyConfigFromControlPlane(controlPlane: string, kind: string, ref: string, o: ProxyConfigOptions): Promise<string> {
  if (kind === 'log' || kind === 'bootstrap') throw new Error(`proxy-config ${kind}: only the proxy knows it; use --source proxy`);
  let id = ref;
  if (!ref.includes('~')) {
    const want = parsePodRef(ref, o.namespace);
    const entries = await getJson<ProxyStatusEntry[]>(controlPlane, '/debug/syncz');
    const hit = entries.find((e) => e.pod === want.name && (!want.namespace || e.namespace === want.namespace));
    if (!hit) throw new Error(`no connected proxy "${ref}"; connected: ${entries.map((e) => `${e.pod}.${e.namespace}`).join(', ') || 'none'}`);
    id = hit.proxy;
  }
  const dump = await getJson<ConfigDump>(controlPlane, `/debug/config_dump?proxyID=${encodeURIComponent(id)}`);
  if (kind === 'all') return o.output === 'short' ? allTables((k) => selectKind(dump, k) as J[]) : out(dump, o.output);
  const resources = filterResources(kind, selectKind(dump, kind) as J[], o);
  return renderProxyConfig(kind, resources, o.output);
}

/** `tsmesh proxy-config <kind> <pod>`. */
export async function proxyConfig(controlPlane: string, kindArg: string, ref: string, o: ProxyConfigOptions): Promise<string> {
  const kind = KINDS[kindArg];
  if (!kind) throw new Error(`unknown kind "${kindArg}": expected cluster, listener, route, endpoint, secret, bootstrap, log or all`);
  checkOutput(o.output);
  if (o.source === 'control-plane') return proxyConfigFromControlPlane(controlPlane, kind, ref, o);
  if (o.source !== 'proxy') throw new Error(`--source: "${o.source}" is not proxy or control-plane`);
  if (o.admin) return proxyConfigFromAdmin(o.admin, kind, o);
  const pod = await resolvePod(controlPlane, ref, { namespace: o.namespace, requireProxy: true });
  return withPodPort(pod, ADMIN_PORT, (base) => proxyConfigFromAdmin(base, kind, o), { context: o.context });
}
