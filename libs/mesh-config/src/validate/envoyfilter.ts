/**
 * Checks of an EnvoyFilter that need no Envoy protos: which operations each `applyTo` takes,
 * which match goes with which `applyTo`, the relative operations' anchors, and the parts of
 * Istio's API tsmesh's proxy cannot honour (refused here, with the reason, rather than ignored).
 * The patch values themselves are checked against Envoy's messages by an
 * {@link EnvoyFilterValueChecker} the caller passes (libs/xds provides one).
 */
import { issueAt, type ConfigResource } from '../resource';
import type { ConfigIssue, Severity } from '../issues';
import type { EnvoyFilterApplyTo, EnvoyFilterConfigPatch, EnvoyFilterOperation, EnvoyFilterSpec } from '../types/envoyfilter';
import type { KubeObject } from '../types/meta';

/** The operations tsmesh applies for each `applyTo` (Istio's set, minus what Istio itself ignores). */
export const ENVOY_FILTER_OPERATIONS: Readonly<Partial<Record<EnvoyFilterApplyTo, readonly EnvoyFilterOperation[]>>> = {
  LISTENER: ['MERGE', 'ADD', 'REMOVE'],
  FILTER_CHAIN: ['MERGE', 'ADD', 'REMOVE', 'INSERT_FIRST'],
  NETWORK_FILTER: ['MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST', 'REPLACE'],
  HTTP_FILTER: ['MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST', 'REPLACE'],
  LISTENER_FILTER: ['ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST', 'REPLACE'],
  ROUTE_CONFIGURATION: ['MERGE'],
  VIRTUAL_HOST: ['MERGE', 'ADD', 'REMOVE'],
  HTTP_ROUTE: ['MERGE', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST'],
  CLUSTER: ['MERGE', 'ADD', 'REMOVE'],
};

const REFUSED_APPLY_TO: Partial<Record<EnvoyFilterApplyTo, string>> = {
  INVALID: 'applyTo is required',
  EXTENSION_CONFIG: "EXTENSION_CONFIG is not supported: tsmesh's proxy has no extension config discovery (ECDS)",
  BOOTSTRAP: "BOOTSTRAP is not supported: tsmesh's proxy builds its bootstrap from its flags, not from xDS",
};

const MATCH_FOR: Record<string, 'listener' | 'routeConfiguration' | 'cluster'> = {
  LISTENER: 'listener', FILTER_CHAIN: 'listener', NETWORK_FILTER: 'listener', HTTP_FILTER: 'listener', LISTENER_FILTER: 'listener',
  ROUTE_CONFIGURATION: 'routeConfiguration', VIRTUAL_HOST: 'routeConfiguration', HTTP_ROUTE: 'routeConfiguration',
  CLUSTER: 'cluster',
};

/** A problem a value checker found, at a path relative to the patch value. */
export interface EnvoyFilterValueProblem {
  path: string;
  reason: string;
  severity?: Severity;
}

/**
 * Checks one patch value against the Envoy message its `applyTo` names and against what the
 * proxy can run (for example, an HTTP filter type the proxy has no implementation of).
 */
export type EnvoyFilterValueChecker = (applyTo: EnvoyFilterApplyTo, operation: EnvoyFilterOperation, value: Record<string, unknown>) => EnvoyFilterValueProblem[];

const cache = new WeakMap<object, { checker?: EnvoyFilterValueChecker; issues: ConfigIssue[] }>();

/** Semantic checks of one EnvoyFilter; `checkValue` (optional) checks each patch value. Cached per object (resources are immutable). */
export function checkEnvoyFilter(r: ConfigResource, checkValue?: EnvoyFilterValueChecker): ConfigIssue[] {
  const hit = cache.get(r.object as object);
  if (hit && hit.checker === checkValue) return hit.issues;
  const issues = checkEnvoyFilterNow(r, checkValue);
  cache.set(r.object as object, { checker: checkValue, issues });
  return issues;
}

function checkEnvoyFilterNow(r: ConfigResource, checkValue?: EnvoyFilterValueChecker): ConfigIssue[] {
  const s = ((r.object as KubeObject<EnvoyFilterSpec>).spec ?? {}) as EnvoyFilterSpec;
  const out: ConfigIssue[] = [];
  if (s.targetRefs?.length) out.push(issueAt(r, 'spec.targetRefs', 'EF_UNSUPPORTED', 'targetRefs is not supported; select workloads with workloadSelector'));
  (s.configPatches ?? []).forEach((p, i) => checkPatch(r, p, `spec.configPatches[${i}]`, out, checkValue));
  return out;
}

function checkPatch(r: ConfigResource, p: EnvoyFilterConfigPatch, at: string, out: ConfigIssue[], checkValue?: EnvoyFilterValueChecker): void {
  const err = (field: string, code: string, reason: string, severity: Severity = 'error') => out.push(issueAt(r, `${at}${field}`, code, reason, severity));
  const applyTo = p.applyTo ?? 'INVALID';
  const refused = REFUSED_APPLY_TO[applyTo];
  if (refused) {
    err('.applyTo', 'EF_UNSUPPORTED', refused);
    return;
  }
  const op = p.patch?.operation ?? 'INVALID';
  const ops = ENVOY_FILTER_OPERATIONS[applyTo] ?? [];
  if (op === 'INVALID') {
    err('.patch.operation', 'EF_NO_OPERATION', 'patch.operation is required');
    return;
  }
  if (!ops.includes(op)) {
    err('.patch.operation', 'EF_BAD_OPERATION', `${op} is not an operation on ${applyTo} (valid: ${ops.join(', ')})`);
    return;
  }
  const m = p.match ?? {};
  const wanted = MATCH_FOR[applyTo];
  for (const k of ['listener', 'routeConfiguration', 'cluster'] as const) {
    if (m[k] && k !== wanted) err(`.match.${k}`, 'EF_BAD_MATCH', `a ${k} match does not select ${applyTo} objects (use match.${wanted})`);
  }
  if (m.listener?.portName) err('.match.listener.portName', 'EF_UNSUPPORTED', 'portName is not supported (Istio does not implement it either); use portNumber');
  if (m.routeConfiguration?.portName) err('.match.routeConfiguration.portName', 'EF_UNSUPPORTED', 'portName is not supported; use portNumber');
  if (m.routeConfiguration?.gateway) err('.match.routeConfiguration.gateway', 'EF_UNSUPPORTED', 'gateway is not supported; use name or portNumber');
  if (m.proxy?.proxyVersion) {
    try {
      new RegExp(m.proxy.proxyVersion);
    } catch (e) {
      err('.match.proxy.proxyVersion', 'EF_BAD_REGEX', `not a regular expression: ${(e as Error).message}`);
    }
  }
  if (m.listener?.listenerFilter && applyTo !== 'LISTENER_FILTER') err('.match.listener.listenerFilter', 'EF_BAD_MATCH', 'listenerFilter selects only LISTENER_FILTER patches');
  if (p.patch?.filterClass && p.patch.filterClass !== 'UNSPECIFIED') {
    err('.patch.filterClass', 'EF_UNSUPPORTED', 'filterClass is not supported; place the filter with INSERT_BEFORE/INSERT_AFTER and a subFilter name');
  }
  // Relative operations need the object they are relative to.
  if (op === 'INSERT_BEFORE' || op === 'INSERT_AFTER' || op === 'REPLACE' || (op !== 'ADD' && op !== 'INSERT_FIRST' && (applyTo === 'NETWORK_FILTER' || applyTo === 'HTTP_FILTER' || applyTo === 'LISTENER_FILTER'))) {
    const anchor = applyTo === 'HTTP_FILTER' ? [m.listener?.filterChain?.filter?.subFilter?.name, 'match.listener.filterChain.filter.subFilter.name']
      : applyTo === 'NETWORK_FILTER' ? [m.listener?.filterChain?.filter?.name, 'match.listener.filterChain.filter.name']
        : applyTo === 'LISTENER_FILTER' ? [m.listener?.listenerFilter, 'match.listener.listenerFilter']
          : applyTo === 'HTTP_ROUTE' ? [m.routeConfiguration?.vhost?.route?.name, 'match.routeConfiguration.vhost.route.name'] : [undefined, ''];
    if (anchor[1] && !anchor[0]) err('.match', 'EF_NO_ANCHOR', `${op} on ${applyTo} needs ${anchor[1]} (the ${applyTo === 'HTTP_ROUTE' ? 'route' : 'filter'} it is relative to)`);
  }
  if (applyTo === 'HTTP_FILTER' && op === 'ADD') {
    err('.patch.operation', 'EF_ADD_AFTER_ROUTER', 'ADD appends the filter after the router, which must stay last (the proxy would reject the listener); use INSERT_BEFORE with subFilter envoy.filters.http.router');
  }
  if (op === 'REMOVE') return;
  if (!p.patch?.value || Object.keys(p.patch.value).length === 0) {
    err('.patch.value', 'EF_NO_VALUE', `${op} on ${applyTo} needs a value`);
    return;
  }
  const value = p.patch.value as { type?: string; eds_cluster_config?: unknown; edsClusterConfig?: unknown };
  if (applyTo === 'CLUSTER' && op === 'ADD' && (value.type === 'EDS' || value.eds_cluster_config || value.edsClusterConfig)) {
    err('.patch.value', 'EF_EDS_CLUSTER', 'ADD of an EDS cluster: the control plane has no endpoints for a cluster it did not generate; use type STATIC or STRICT_DNS with a load_assignment');
    return;
  }
  if (checkValue) {
    for (const v of checkValue(applyTo, op, p.patch.value)) err(`.patch.value${v.path ? `.${v.path}` : ''}`, 'EF_BAD_VALUE', v.reason, v.severity ?? 'error');
  }
}
