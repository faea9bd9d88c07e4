/**
 * One generation per push: the push context, the cross-push {@link XdsCache}, and the parts
 * built once per push and shared by reference by every proxy that sees them the same way (a
 * scope's outbound clusters, load assignments, listeners and route tables; a gateway group's
 * resources). Shared parts are found by typed {@link SharedKey}s.
 */
import { createHash } from 'node:crypto';
import { resolveHost } from '@tsmesh/mesh-config';
import type { EncodedResource, ResourceTypeUrl } from '@tsmesh/xds';
import type { Config, PushContext, VirtualServiceConfig } from '../../model/push-context';
import type { Proxy } from '../../model/proxy';
import { XdsCache } from './xds-cache';

/** A key of a part shared within one push. */
export interface SharedKey {
  id(): string;
}

const j = (parts: readonly unknown[]): string => JSON.stringify(parts);

/**
 * What a sidecar's outbound side is built from: its kind, namespace, Sidecar resource and — only
 * when some VirtualService matches on the client — its labels. Proxies with equal scope keys get
 * the same outbound resources (shared by reference).
 */
export class ScopeKey implements SharedKey {
  constructor(
    readonly kind: Proxy['kind'],
    readonly namespace: string,
    readonly sidecar: Config<unknown> | undefined,
    /** The proxy's labels when any VirtualService matches on `sourceLabels`; else empty. */
    readonly labels: string,
  ) {}
  id(): string {
    return j(['scope', this.kind, this.namespace, this.sidecar?.resource.key ?? '', this.labels]);
  }
}

/** A part shared within one push, named by its family and the keys of what it is made of. */
export class PartKey implements SharedKey {
  constructor(readonly family: string, readonly parts: readonly (string | number | boolean)[]) {}
  id(): string {
    return j([this.family, ...this.parts]);
  }
}

/** A patch applied to a proxy's generated resources after generation (the EnvoyFilter hook). */
export type ResourcePatch = (g: PushGeneration, proxy: Proxy, resources: { [K in ResourceTypeUrl]: EncodedResource[] }) => { [K in ResourceTypeUrl]: EncodedResource[] };

/** The per-push generation state. */
export class PushGeneration {
  private readonly memo = new Map<string, unknown>();

  constructor(
    readonly push: PushContext,
    readonly cache: XdsCache = new XdsCache(),
    /** Applied in order to every proxy's resources after generation. */
    readonly patches: readonly ResourcePatch[] = [],
  ) {}

  /** The part for `key`, built once per push. */
  shared<T>(key: SharedKey, make: () => T): T {
    const id = key.id();
    if (this.memo.has(id)) return this.memo.get(id) as T;
    const v = make();
    this.memo.set(id, v);
    return v;
  }

  /** The scope key of a proxy. */
  scopeOf(proxy: Proxy): ScopeKey {
    const sc = this.push.sidecarFor(proxy.namespace, proxy.labels);
    const bySource = this.shared(new PartKey('usesSourceLabels', []), () => this.push.virtualServices.some((v) => matchesOnSource(v)));
    return new ScopeKey(proxy.kind, proxy.namespace, sc, bySource ? j(Object.entries(proxy.labels).sort()) : '');
  }
}

const sourceMemo = new WeakMap<object, boolean>();
/** True when a VirtualService's routes match on the client (`sourceLabels`, `sourceNamespace`). */
export function matchesOnSource(vs: VirtualServiceConfig): boolean {
  let v = sourceMemo.get(vs.spec);
  if (v === undefined) {
    v = (vs.spec.http ?? []).some((h) => h.match?.some((m) => m.sourceLabels || m.sourceNamespace))
      || (vs.spec.tcp ?? []).some((t) => t.match?.some((m) => m.sourceLabels))
      || (vs.spec.tls ?? []).some((t) => t.match?.some((m) => (m as { sourceLabels?: unknown }).sourceLabels));
    sourceMemo.set(vs.spec, v);
  }
  return v;
}

/** The client inputs a VirtualService's routes read: namespace and labels when it matches on them, else empty. */
export function sourceOf(vs: VirtualServiceConfig | undefined, proxy: Proxy): string {
  return vs && matchesOnSource(vs) ? j([proxy.namespace, Object.entries(proxy.labels).sort()]) : '';
}

const destMemo = new WeakMap<object, string[]>();
/** FQDNs a VirtualService sends to or mirrors to (their ports pick destination ports). */
export function destinationsOf(vs: VirtualServiceConfig | undefined, domain: string): string[] {
  if (!vs) return [];
  let d = destMemo.get(vs.spec);
  if (!d) {
    const hosts = new Set<string>();
    const add = (h: string | undefined) => { if (h) hosts.add(resolveHost(h, vs.namespace, domain)); };
    for (const h of vs.spec.http ?? []) {
      for (const r of h.route ?? []) add(r.destination?.host);
      add(h.mirror?.host);
      for (const m of h.mirrors ?? []) add(m.destination?.host);
    }
    for (const t of [...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])]) for (const r of t.route ?? []) add(r.destination?.host);
    d = [...hosts].sort();
    destMemo.set(vs.spec, d);
  }
  return d;
}

const versionMemo = new WeakMap<readonly EncodedResource[], string>();

/** Content version of a list of resources: a hash of names and per-resource hashes (memoized per list). */
export function contentVersion(list: readonly EncodedResource[]): string {
  const hit = versionMemo.get(list);
  if (hit) return hit;
  let text = '';
  for (const r of list) text += `${r.name}\0${r.version}\n`;
  const v = createHash('sha256').update(text).digest('hex').slice(0, 12);
  versionMemo.set(list, v);
  return v;
}

/** A list made of shared parts (shared within the push), versioned from the parts' versions. */
export function joined(g: PushGeneration, key: SharedKey, parts: readonly (readonly EncodedResource[])[]): EncodedResource[] {
  return g.shared(new PartKey('join', [key.id()]), () => {
    const list = parts.flat();
    versionMemo.set(list, createHash('sha256').update(parts.map((p) => contentVersion(p)).join('+')).digest('hex').slice(0, 12));
    return list;
  });
}
