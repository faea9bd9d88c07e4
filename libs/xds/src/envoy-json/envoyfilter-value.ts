/**
 * Checks an EnvoyFilter patch value the way the control plane will use it: converted to the
 * Envoy message its `applyTo` names (unknown fields, wrong types and unregistered `@type`s are
 * errors with their path), then every HTTP, network and listener filter in it checked against
 * what the proxy implements.
 */
import { EnvoyJsonError, fromEnvoyJson, type EnvoyJson } from './json';
import { PROXY_HTTP_FILTER_TYPES, PROXY_LISTENER_FILTERS, PROXY_NETWORK_FILTER_TYPES } from './capabilities';

/** The Envoy message each `applyTo` patches. */
export const APPLY_TO_MESSAGE: Readonly<Record<string, string>> = {
  LISTENER: 'envoy.config.listener.v3.Listener',
  FILTER_CHAIN: 'envoy.config.listener.v3.FilterChain',
  NETWORK_FILTER: 'envoy.config.listener.v3.Filter',
  HTTP_FILTER: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter',
  LISTENER_FILTER: 'envoy.config.listener.v3.ListenerFilter',
  ROUTE_CONFIGURATION: 'envoy.config.route.v3.RouteConfiguration',
  VIRTUAL_HOST: 'envoy.config.route.v3.VirtualHost',
  HTTP_ROUTE: 'envoy.config.route.v3.Route',
  CLUSTER: 'envoy.config.cluster.v3.Cluster',
};

/** One problem, at a path inside the value. */
export interface ValueProblem {
  path: string;
  reason: string;
  severity?: 'error' | 'warning';
}

/** Converts a patch value for `applyTo`; throws {@link EnvoyJsonError} naming the field. */
export function envoyFilterValue(applyTo: string, value: unknown): EnvoyJson {
  const message = APPLY_TO_MESSAGE[applyTo];
  if (!message) throw new EnvoyJsonError('', `${applyTo} takes no value`);
  return fromEnvoyJson(message, value);
}

/** Problems of one patch value (see the module doc); an empty list when the proxy can run it. */
export function checkEnvoyFilterValue(applyTo: string, operation: string, value: Record<string, unknown>): ValueProblem[] {
  let v: EnvoyJson;
  try {
    v = envoyFilterValue(applyTo, value);
  } catch (err) {
    if (err instanceof EnvoyJsonError) return [{ path: err.path, reason: err.reason }];
    throw err;
  }
  const out: ValueProblem[] = [];
  if (applyTo === 'HTTP_FILTER') checkFilter(v, '', 'http', out, operation === 'MERGE');
  else if (applyTo === 'NETWORK_FILTER') checkFilter(v, '', 'network', out, operation === 'MERGE');
  else if (applyTo === 'LISTENER_FILTER') checkListenerFilter(v, '', out);
  else walk(v, '', out);
  return out;
}

function walk(v: unknown, path: string, out: ValueProblem[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => walk(x, `${path}[${i}]`, out));
    return;
  }
  if (!v || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const at = path ? `${path}.${k}` : k;
    if (k === 'http_filters' && Array.isArray(x)) x.forEach((f, i) => checkFilter(f as EnvoyJson, `${at}[${i}]`, 'http', out, false));
    else if (k === 'filters' && Array.isArray(x)) x.forEach((f, i) => checkFilter(f as EnvoyJson, `${at}[${i}]`, 'network', out, false));
    else if (k === 'listener_filters' && Array.isArray(x)) x.forEach((f, i) => checkListenerFilter(f as EnvoyJson, `${at}[${i}]`, out));
    else walk(x, at, out);
  }
}

function checkFilter(f: EnvoyJson, path: string, kind: 'http' | 'network', out: ValueProblem[], merge: boolean): void {
  const at = (p: string) => (path ? `${path}.${p}` : p);
  const tc = f.typed_config as EnvoyJson | undefined;
  const url = tc?.['@type'] as string | undefined;
  if (!url) {
    if (!merge) out.push({ path: at('typed_config'), reason: `the ${kind} filter "${String(f.name ?? '')}" needs a typed_config: the proxy picks filters by type` });
    return;
  }
  const known = kind === 'http' ? PROXY_HTTP_FILTER_TYPES : PROXY_NETWORK_FILTER_TYPES;
  if (!known.includes(url)) {
    if (kind === 'http' && f.is_optional) {
      out.push({ path: at('typed_config.@type'), reason: `the proxy has no HTTP filter ${url}; it is optional, so the proxy skips it`, severity: 'warning' });
    } else {
      out.push({ path: at('typed_config.@type'), reason: `the proxy has no ${kind === 'http' ? 'HTTP' : 'network'} filter ${url} and would reject the listener (it runs: ${known.map((u) => u.slice(u.lastIndexOf('/') + 1)).join(', ')})` });
    }
    return;
  }
  if (kind === 'network') walk(tc, at('typed_config'), out);
}

function checkListenerFilter(f: EnvoyJson, path: string, out: ValueProblem[]): void {
  const name = String(f.name ?? '');
  if (!PROXY_LISTENER_FILTERS.includes(name)) out.push({ path: path ? `${path}.name` : 'name', reason: `the proxy has no listener filter "${name}" (it runs: ${PROXY_LISTENER_FILTERS.join(', ')})` });
}
