/**
 * The patch half of an EnvoyFilter: each operation on the decoded resources of one proxy.
 * Resources are decoded (to Envoy JSON) only when a patch of their type exists, and re-encoded
 * only when a patch changed them.
 */
import { APPLY_TO_MESSAGE, mergeEnvoyJson, type EnvoyJson } from '@tsmesh/xds';
import type { EnvoyFilterApplyTo, EnvoyFilterMatch, EnvoyFilterOperation } from '@tsmesh/mesh-config';
import type { Proxy } from '../../model/proxy';
import {
  chainMatches, clusterContext, clusterMatches, contextMatches, hcmOf, listenerContext, listenerMatches, proxyMatches,
  routeConfigMatches, routeMatches, vhostMatches, VIRTUAL_INBOUND, VIRTUAL_OUTBOUND, type PatchContext,
} from './match';

/** One patch, ready to apply: its value converted to Envoy JSON once. */
export interface CompiledPatch {
  /** `namespace/name` of the EnvoyFilter. */
  filter: string;
  /** Index in `configPatches`. */
  index: number;
  applyTo: EnvoyFilterApplyTo;
  operation: EnvoyFilterOperation;
  match?: EnvoyFilterMatch;
  value?: EnvoyJson;
}

/** A decoded resource, and whether a patch changed it. */
export interface Item {
  json: EnvoyJson;
  dirty: boolean;
}

/** The decoded resources a proxy's patches work on; a type is decoded on first use. */
export interface WorkingSet {
  listeners(): Item[];
  routes(): Item[];
  clusters(): Item[];
}

const clone = <T>(v: T): T => structuredClone(v);

/** Applies one patch; returns how many objects it changed (0: it matched nothing). */
export function applyPatch(p: CompiledPatch, proxy: Proxy, ws: WorkingSet): number {
  if (!proxyMatches(p.match, proxy)) return 0;
  switch (p.applyTo) {
    case 'LISTENER': return patchTop(p, ws.listeners(), proxy, (it) => listenerContext(proxy, it.json), (it) => listenerMatches(p.match, it.json, true));
    case 'CLUSTER': return patchTop(p, ws.clusters(), proxy, (it) => clusterContext(proxy, it.json), (it) => clusterMatches(p.match, it.json));
    case 'FILTER_CHAIN': case 'NETWORK_FILTER': case 'HTTP_FILTER': case 'LISTENER_FILTER': return patchInListeners(p, proxy, ws.listeners());
    case 'ROUTE_CONFIGURATION': case 'VIRTUAL_HOST': case 'HTTP_ROUTE': return patchRoutes(p, proxy, ws);
    default: return 0;
  }
}

/** The contexts a new top-level object of this proxy may be added in. */
function addContexts(proxy: Proxy): PatchContext[] {
  return proxy.kind === 'router' ? ['GATEWAY'] : ['SIDECAR_OUTBOUND', 'SIDECAR_INBOUND'];
}

/** LISTENER and CLUSTER: ADD a new one, REMOVE or MERGE the matching ones. */
function patchTop(p: CompiledPatch, items: Item[], proxy: Proxy, ctxOf: (it: Item) => PatchContext, matches: (it: Item) => boolean): number {
  if (p.operation === 'ADD') {
    if (!addContexts(proxy).some((c) => contextMatches(p.match, c))) return 0;
    const name = p.value!.name;
    const at = items.findIndex((it) => it.json.name === name);
    // a second object of one name would make the response invalid: the added one replaces it
    if (at >= 0) items[at] = { json: clone(p.value!), dirty: true };
    else items.push({ json: clone(p.value!), dirty: true });
    return 1;
  }
  let n = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i];
    if (!contextMatches(p.match, ctxOf(it)) || !matches(it)) continue;
    n += 1;
    if (p.operation === 'REMOVE') items.splice(i, 1);
    else if (p.operation === 'MERGE') {
      it.json = mergeEnvoyJson(APPLY_TO_MESSAGE[p.applyTo], it.json, p.value!);
      it.dirty = true;
    }
  }
  return n;
}

/** An operation on a list of named objects; `selected` picks the anchor (or the objects to change). */
function listOp(p: CompiledPatch, list: EnvoyJson[], selected: (x: EnvoyJson) => boolean): { list: EnvoyJson[]; changed: number } {
  const v = p.value;
  switch (p.operation) {
    case 'ADD': return { list: [...list, clone(v!)], changed: 1 };
    case 'INSERT_FIRST': return { list: [clone(v!), ...list], changed: 1 };
    case 'INSERT_BEFORE': case 'INSERT_AFTER': {
      const at = list.findIndex(selected);
      if (at < 0) return { list, changed: 0 };
      const out = [...list];
      out.splice(p.operation === 'INSERT_BEFORE' ? at : at + 1, 0, clone(v!));
      return { list: out, changed: 1 };
    }
    case 'REMOVE': {
      const out = list.filter((x) => !selected(x));
      return { list: out, changed: list.length - out.length };
    }
    case 'REPLACE': case 'MERGE': {
      let changed = 0;
      const out = list.map((x) => {
        if (!selected(x)) return x;
        changed += 1;
        return p.operation === 'REPLACE' ? clone(v!) : mergeEnvoyJson(APPLY_TO_MESSAGE[p.applyTo], x, v!);
      });
      return { list: out, changed };
    }
    default: return { list, changed: 0 };
  }
}

/** The filter chains of a listener (the default chain last), with a setter to write one back. */
function chainsOf(l: EnvoyJson): { chain: EnvoyJson; set: (c: EnvoyJson) => void }[] {
  const chains = (l.filter_chains as EnvoyJson[] | undefined) ?? [];
  const out = chains.map((chain, i) => ({ chain, set: (c: EnvoyJson) => { chains[i] = c; } }));
  if (l.default_filter_chain) out.push({ chain: l.default_filter_chain as EnvoyJson, set: (c) => { l.default_filter_chain = c; } });
  return out;
}

/** FILTER_CHAIN, NETWORK_FILTER, HTTP_FILTER and LISTENER_FILTER on the matching listeners. */
function patchInListeners(p: CompiledPatch, proxy: Proxy, listeners: Item[]): number {
  let n = 0;
  const fc = p.match?.listener?.filterChain;
  for (const it of listeners) {
    const l = it.json;
    if (!contextMatches(p.match, listenerContext(proxy, l)) || !listenerMatches(p.match, l, false)) continue;
    let changed = 0;
    if (p.applyTo === 'LISTENER_FILTER') {
      const anchor = p.match?.listener?.listenerFilter;
      const r = listOp(p, (l.listener_filters as EnvoyJson[] | undefined) ?? [], (f) => f.name === anchor);
      if (r.changed) l.listener_filters = r.list;
      changed = r.changed;
    } else if (p.applyTo === 'FILTER_CHAIN' && (p.operation === 'ADD' || p.operation === 'INSERT_FIRST')) {
      // a new chain on a virtual listener only where the port is the chain's, which a new chain states itself
      const r = listOp(p, (l.filter_chains as EnvoyJson[] | undefined) ?? [], () => false);
      l.filter_chains = r.list;
      changed = r.changed;
    } else if (p.applyTo === 'FILTER_CHAIN') {
      const chains = (l.filter_chains as EnvoyJson[] | undefined) ?? [];
      const r = listOp(p, chains, (c) => chainMatches(p.match, l, c));
      if (r.changed) l.filter_chains = r.list;
      changed = r.changed;
      if (l.default_filter_chain && chainMatches(p.match, l, l.default_filter_chain as EnvoyJson)) {
        changed += 1;
        if (p.operation === 'REMOVE') delete l.default_filter_chain;
        else l.default_filter_chain = mergeEnvoyJson(APPLY_TO_MESSAGE.FILTER_CHAIN, l.default_filter_chain as EnvoyJson, p.value!);
      }
    } else {
      for (const { chain, set } of chainsOf(l)) {
        if (!chainMatches(p.match, l, chain)) continue;
        if (p.applyTo === 'NETWORK_FILTER') {
          const r = listOp(p, (chain.filters as EnvoyJson[] | undefined) ?? [], (f) => f.name === fc?.filter?.name);
          if (r.changed) set({ ...chain, filters: r.list });
          changed += r.changed;
        } else {
          const hcm = hcmOf(chain);
          if (!hcm) continue;
          if (fc?.filter?.name && fc.filter.name !== hcm.name) continue;
          const tc = hcm.typed_config as EnvoyJson;
          const anchor = fc?.filter?.subFilter?.name;
          const r = listOp(p, (tc.http_filters as EnvoyJson[] | undefined) ?? [], (f) => f.name === anchor);
          if (r.changed) tc.http_filters = r.list;
          changed += r.changed;
        }
      }
    }
    if (changed) it.dirty = true;
    n += changed;
  }
  return n;
}

/** ROUTE_CONFIGURATION, VIRTUAL_HOST and HTTP_ROUTE on RDS route tables and on route tables inline in listeners. */
function patchRoutes(p: CompiledPatch, proxy: Proxy, ws: WorkingSet): number {
  let n = 0;
  const rdsCtx: PatchContext = proxy.kind === 'router' ? 'GATEWAY' : 'SIDECAR_OUTBOUND';
  if (contextMatches(p.match, rdsCtx)) {
    for (const it of ws.routes()) {
      if (!routeConfigMatches(p.match, it.json)) continue;
      const r = patchRouteConfig(p, it.json);
      if (r.changed) {
        it.json = r.rc;
        it.dirty = true;
        n += r.changed;
      }
    }
  }
  // inline route tables (the sidecar's inbound chains): matched on the chain's port
  for (const it of ws.listeners()) {
    const l = it.json;
    const ctx = listenerContext(proxy, l);
    if (!contextMatches(p.match, ctx)) continue;
    for (const { chain } of chainsOf(l)) {
      const hcm = hcmOf(chain);
      const tc = hcm?.typed_config as EnvoyJson | undefined;
      if (!tc?.route_config) continue;
      const dport = (chain.filter_chain_match as { destination_port?: { value?: number } } | undefined)?.destination_port?.value ?? 0;
      const port = l.name === VIRTUAL_INBOUND || l.name === VIRTUAL_OUTBOUND ? dport : Number((l.address as { socket_address?: { port_value?: number } } | undefined)?.socket_address?.port_value ?? 0);
      if (!routeConfigMatches(p.match, tc.route_config as EnvoyJson, port)) continue;
      const r = patchRouteConfig(p, tc.route_config as EnvoyJson);
      if (r.changed) {
        tc.route_config = r.rc;
        it.dirty = true;
        n += r.changed;
      }
    }
  }
  return n;
}

function patchRouteConfig(p: CompiledPatch, rc: EnvoyJson): { rc: EnvoyJson; changed: number } {
  if (p.applyTo === 'ROUTE_CONFIGURATION') return p.operation === 'MERGE' ? { rc: mergeEnvoyJson(APPLY_TO_MESSAGE.ROUTE_CONFIGURATION, rc, p.value!), changed: 1 } : { rc, changed: 0 };
  const vhosts = (rc.virtual_hosts as EnvoyJson[] | undefined) ?? [];
  if (p.applyTo === 'VIRTUAL_HOST') {
    const r = p.operation === 'ADD' ? listOp(p, vhosts, () => false) : listOp(p, vhosts, (vh) => vhostMatches(p.match, vh));
    return r.changed ? { rc: { ...rc, virtual_hosts: r.list }, changed: r.changed } : { rc, changed: 0 };
  }
  let changed = 0;
  const out = vhosts.map((vh) => {
    if (!vhostMatches(p.match, vh)) return vh;
    const r = listOp(p, (vh.routes as EnvoyJson[] | undefined) ?? [], (route) => routeMatches(p.match, route));
    changed += r.changed;
    return r.changed ? { ...vh, routes: r.list } : vh;
  });
  return changed ? { rc: { ...rc, virtual_hosts: out }, changed } : { rc, changed: 0 };
}
