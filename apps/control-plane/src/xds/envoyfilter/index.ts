/**
 * EnvoyFilter, applied after generation: the resources generated for a proxy, patched by the
 * EnvoyFilters that select it (see {@link envoyFiltersFor} for which and in what order). The
 * result is memoized per generated output and the set of selecting EnvoyFilters, which are
 * inputs of a proxy's resources like its namespace and labels are.
 *
 * What cannot be applied is never silently dropped: values that do not fit Envoy's messages or
 * name filters the proxy lacks are refused at validation (`tsmesh analyze`, `/debug/config_issues`);
 * a patch that matched nothing, or a patched result that would be inconsistent, is reported in
 * the proxy's {@link EnvoyFilterReport} (`/debug/config_dump`, the log). Whatever the proxy still
 * refuses comes back as a NACK naming the resource and field (`tsmesh proxy-status`).
 */
import { createHash } from 'node:crypto';
import {
  decodeToEnvoyJson, encodeResource, envoyFilterValue, packEnvoyJson, TypeUrl,
  type EncodedResource, type EnvoyJson, type ResourceMessages, type ResourceTypeUrl,
} from '@tsmesh/xds';
import type { EnvoyFilterSpec } from '@tsmesh/mesh-config';
import type { Config, PushContext } from '../../model/push-context';
import type { Proxy } from '../../model/proxy';
import { applyPatch, type CompiledPatch, type Item, type WorkingSet } from './apply';
import { envoyFiltersFor } from './select';

export { envoyFiltersFor } from './select';

/** What the EnvoyFilters did to one proxy's resources. */
export interface EnvoyFilterReport {
  /** `namespace/name` of each EnvoyFilter selecting the proxy, in the order applied. */
  filters: string[];
  /** Per patch: how many objects it changed. */
  applied: { filter: string; patch: number; applyTo: string; operation: string; changed: number }[];
  /** Patches that matched nothing in this proxy's resources. */
  unmatched: string[];
  /** Why the patched resources were not used (the proxy then gets the unpatched ones). */
  error?: string;
}

/** The parts of a generated result the patches read and write. */
export interface PatchableOutput {
  resources: { [K in ResourceTypeUrl]: EncodedResource[] };
  versions: { [K in ResourceTypeUrl]: string };
  envoyFilters?: EnvoyFilterReport;
}

const compiled = new WeakMap<Config<EnvoyFilterSpec>, CompiledPatch[]>();

/** The patches of an EnvoyFilter with their values converted (once per config object). Validation has refused bad values already. */
export function compileEnvoyFilter(f: Config<EnvoyFilterSpec>): CompiledPatch[] {
  let c = compiled.get(f);
  if (!c) {
    c = (f.spec.configPatches ?? []).map((p, index) => ({
      filter: `${f.namespace}/${f.name}`, index, applyTo: p.applyTo ?? 'INVALID', operation: p.patch?.operation ?? 'INVALID', match: p.match,
      value: p.patch?.operation === 'REMOVE' || !p.patch?.value ? undefined : envoyFilterValue(p.applyTo ?? 'INVALID', p.patch.value),
    }));
    compiled.set(f, c);
  }
  return c;
}

const memo = new WeakMap<object, Map<string, PatchableOutput>>();
const specKeys = new WeakMap<object, string>();

function filterKey(f: Config<EnvoyFilterSpec>): string {
  let k = specKeys.get(f);
  if (!k) specKeys.set(f, (k = `${f.namespace}/${f.name}:${createHash('sha1').update(JSON.stringify(f.spec)).digest('base64url')}`));
  return k;
}

/**
 * The cache key of the EnvoyFilter input of a proxy's resources: the selecting EnvoyFilters (by
 * name and content), plus the proxy's metadata when a patch matches on it. Empty when none select it.
 */
export function envoyFilterKey(push: PushContext, proxy: Proxy): string {
  const filters = envoyFiltersFor(push, proxy);
  if (!filters.length) return '';
  const usesProxy = filters.some((f) => (f.spec.configPatches ?? []).some((p) => p.match?.proxy));
  return `${filters.map(filterKey).join(',')}${usesProxy ? `|${JSON.stringify(proxy.metadata)}` : ''}`;
}

/** `generated` with the EnvoyFilters selecting `proxy` applied (the same object when none select it). */
export function applyEnvoyFilters<G extends PatchableOutput>(push: PushContext, proxy: Proxy, generated: G): G {
  const key = envoyFilterKey(push, proxy);
  if (!key) return generated;
  let m = memo.get(generated);
  if (!m) memo.set(generated, (m = new Map()));
  const hit = m.get(key);
  if (hit) return hit as G;
  const out = patch(push, proxy, generated);
  m.set(key, out);
  return out;
}

const PATCHED_TYPES = [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster] as const;
type PatchedType = (typeof PATCHED_TYPES)[number];

function patch<G extends PatchableOutput>(push: PushContext, proxy: Proxy, g: G): G {
  const filters = envoyFiltersFor(push, proxy);
  const report: EnvoyFilterReport = { filters: filters.map((f) => `${f.namespace}/${f.name}`), applied: [], unmatched: [] };
  const decoded = new Map<PatchedType, { items: Item[]; orig: Map<Item, EncodedResource> }>();
  const itemsOf = (t: PatchedType): Item[] => {
    let d = decoded.get(t);
    if (!d) {
      const orig = new Map<Item, EncodedResource>();
      const items = g.resources[t].map((r) => {
        const it = { json: decodeToEnvoyJson(t, r.any.value), dirty: false };
        orig.set(it, r);
        return it;
      });
      decoded.set(t, (d = { items, orig }));
    }
    return d.items;
  };
  const ws: WorkingSet = { listeners: () => itemsOf(TypeUrl.Listener), routes: () => itemsOf(TypeUrl.RouteConfiguration), clusters: () => itemsOf(TypeUrl.Cluster) };
  try {
    for (const f of filters) {
      for (const p of compileEnvoyFilter(f)) {
        const changed = applyPatch(p, proxy, ws);
        report.applied.push({ filter: p.filter, patch: p.index, applyTo: p.applyTo, operation: p.operation, changed });
        if (!changed) report.unmatched.push(`EnvoyFilter ${p.filter}: configPatches[${p.index}] (${p.operation} ${p.applyTo}) matched nothing`);
      }
    }
    const resources = { ...g.resources };
    const versions = { ...g.versions };
    for (const [t, d] of decoded) {
      if (!d.items.some((it) => it.dirty) && d.items.length === g.resources[t].length) continue;
      const list = d.items.map((it) => (it.dirty || !d.orig.has(it) ? encodeResource(t, packEnvoyJson(it.json) as ResourceMessages[typeof t]) : d.orig.get(it)!));
      resources[t] = list;
      versions[t] = listVersion(list);
    }
    checkConsistent(resources);
    return { ...g, resources, versions, envoyFilters: report };
  } catch (err) {
    report.error = `EnvoyFilters ${report.filters.join(', ')} not applied: ${(err as Error).message}`;
    return { ...g, envoyFilters: report };
  }
}

function listVersion(list: readonly EncodedResource[]): string {
  let text = '';
  for (const r of list) text += `${r.name}\0${r.version}\n`;
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** Every RDS name a listener uses and every EDS cluster's endpoints must exist, or the response is refused whole. */
function checkConsistent(resources: PatchableOutput['resources']): void {
  const names = (t: ResourceTypeUrl) => new Set(resources[t].map((r) => r.name));
  const seen = new Set<string>();
  for (const t of PATCHED_TYPES) {
    seen.clear();
    for (const r of resources[t]) {
      if (seen.has(r.name)) throw new Error(`two ${t.slice(t.lastIndexOf('.') + 1)} resources are named "${r.name}"`);
      seen.add(r.name);
    }
  }
  const routes = names(TypeUrl.RouteConfiguration);
  for (const l of resources[TypeUrl.Listener]) {
    for (const name of rdsNames(decodeToEnvoyJson(TypeUrl.Listener, l.any.value))) {
      if (!routes.has(name)) throw new Error(`listener ${l.name} uses route configuration "${name}", which does not exist`);
    }
  }
  const cla = names(TypeUrl.ClusterLoadAssignment);
  for (const c of resources[TypeUrl.Cluster]) {
    const j = decodeToEnvoyJson(TypeUrl.Cluster, c.any.value) as { type?: string; eds_cluster_config?: { service_name?: string } };
    if (j.type === 'EDS' && !cla.has(j.eds_cluster_config?.service_name || c.name)) {
      throw new Error(`cluster ${c.name} is of type EDS but the control plane has no endpoints for it (use STATIC or STRICT_DNS with a load_assignment)`);
    }
  }
}

function rdsNames(l: EnvoyJson): string[] {
  const out: string[] = [];
  const chains = [...((l.filter_chains as EnvoyJson[] | undefined) ?? []), ...(l.default_filter_chain ? [l.default_filter_chain as EnvoyJson] : [])];
  for (const ch of chains) {
    for (const f of (ch.filters as EnvoyJson[] | undefined) ?? []) {
      const rds = (f.typed_config as { rds?: { route_config_name?: string } } | undefined)?.rds;
      if (rds?.route_config_name) out.push(rds.route_config_name);
    }
  }
  return out;
}
