/**
 * One immutable push context per push: the accepted config and the registry, indexed for the
 * translators. Translators read only this (never a live store).
 */
import {
  resolveGatewayRef, resolveHost, type AuthorizationPolicySpec, type ConfigResource, type DestinationRuleSpec,
  type GatewaySpec, type KubeObject, type PeerAuthenticationSpec, type RequestAuthenticationSpec, type Secret,
  type SidecarSpec, type VirtualServiceSpec, type EnvoyFilterSpec,
} from '@tsmesh/mesh-config';
import { buildRegistry, type Registry, type ServiceModel } from '../registry/registry';
import { convertIngress } from './ingress';
import { convertGatewayApi } from './gateway-api';
import type { MeshConfig } from './mesh-config';

/** A config resource with its typed spec. */
export interface Config<S> {
  name: string;
  namespace: string;
  spec: S;
  creation: number;
  resource: ConfigResource;
  /** Every resource this config was made from, when more than `resource` (merged Gateway API routes): cache dependencies. */
  sources?: readonly ConfigResource[];
}

/** A VirtualService with its hosts and gateways resolved. */
export interface VirtualServiceConfig extends Config<VirtualServiceSpec> {
  /** FQDN (or wildcard) hosts. */
  hosts: string[];
  /** `ns/name` of bound Gateways, or `mesh`. */
  gateways: string[];
}

/** Options of a push context. */
export interface PushOptions {
  domain: string;
  /** Istio's root namespace: mesh-wide PeerAuthentication and AuthorizationPolicy live here. */
  rootNamespace: string;
  trustDomain: string;
  /** Istio's mesh config (`--mesh-config`): `defaultConfig.gatewayTopology` and the like. */
  meshConfig?: MeshConfig;
}

export const DEFAULT_PUSH_OPTIONS: PushOptions = { domain: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };

function toConfig<S>(r: ConfigResource): Config<S> {
  const o = r.object as KubeObject<S>;
  const c = o.metadata?.creationTimestamp;
  const t = c ? new Date(c).getTime() : 0;
  return { name: r.name, namespace: r.namespace, spec: (o.spec ?? {}) as S, creation: Number.isNaN(t) ? 0 : t, resource: r };
}

const byAge = (a: Config<unknown>, b: Config<unknown>) => a.creation - b.creation || (a.namespace + a.name < b.namespace + b.name ? -1 : 1);

/** The push context. */
export class PushContext {
  readonly version: string;
  readonly options: PushOptions;
  readonly registry: Registry;
  readonly virtualServices: readonly VirtualServiceConfig[];
  readonly destinationRules: readonly Config<DestinationRuleSpec>[];
  readonly gateways: readonly Config<GatewaySpec>[];
  readonly sidecars: readonly Config<SidecarSpec>[];
  readonly peerAuthentications: readonly Config<PeerAuthenticationSpec>[];
  readonly authorizationPolicies: readonly Config<AuthorizationPolicySpec>[];
  readonly requestAuthentications: readonly Config<RequestAuthenticationSpec>[];
  /** EnvoyFilters, applied after generation (xds/envoyfilter). */
  readonly envoyFilters: readonly Config<EnvoyFilterSpec>[];
  readonly secrets: ReadonlyMap<string, Secret>;
  private readonly drByHost: Map<string, Config<DestinationRuleSpec>[]> = new Map();

  /** Accepted resources by kind, in order (what {@link PushContext.next} compares to reuse indexes). */
  readonly byKind: ReadonlyMap<string, readonly ConfigResource[]>;

  /**
   * Builds the push context. With `previous`, every index whose input kinds hold exactly the same
   * resource objects as before is taken over instead of rebuilt (the push context is rebuilt
   * incrementally: an EndpointSlice change rebuilds the registry only, a VirtualService change
   * the VirtualService index only).
   */
  constructor(resources: readonly ConfigResource[], version: string, options: Partial<PushOptions> = {}, previous?: PushContext) {
    this.version = version;
    this.options = { ...DEFAULT_PUSH_OPTIONS, ...options };
    const domain = this.options.domain;
    const byKind = new Map<string, ConfigResource[]>();
    for (const r of resources) {
      let l = byKind.get(r.kind);
      if (!l) byKind.set(r.kind, (l = []));
      l.push(r);
    }
    this.byKind = byKind;
    const prev = previous && sameOptions(previous.options, this.options) ? previous : undefined;
    const same = (...kinds: string[]) => !!prev && kinds.every((k) => sameList(prev.byKind.get(k), byKind.get(k)));
    const kindList = (k: string) => byKind.get(k) ?? [];
    const of = <S>(kind: string) => kindList(kind).map((r) => toConfig<S>(r)).sort(byAge);
    const registryKinds = ['Service', 'EndpointSlice', 'Pod', 'ServiceEntry'];
    this.registry = same(...registryKinds) ? prev!.registry : buildRegistry(registryKinds.flatMap(kindList), domain);
    // Ingresses are converted against the registry (when there are any).
    const ingressSame = same('Ingress') && (!kindList('Ingress').length || same(...registryKinds));
    // Gateways bound by `spec.addresses` to a Service depend on Services too.
    const addressed = kindList('KubernetesGateway').some((r) => ((r.object as { spec?: { addresses?: unknown[] } }).spec?.addresses?.length ?? 0) > 0);
    const gatewayApiSame = same('GatewayClass', 'KubernetesGateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'ReferenceGrant', 'Namespace') && (!addressed || same('Service'));
    // Ingresses and Gateway API resources are converted whenever the VirtualService or Gateway index
    // is rebuilt (an index rebuilt without them would drop them).
    const reuse = ingressSame && gatewayApiSame && same('VirtualService', 'Gateway');
    const ingresses = reuse ? [] : kindList('Ingress').map((r) => ({ r, c: convertIngress(r, this.registry.byHost, domain) })).filter((x) => x.c);
    const gatewayApi = reuse ? { gateways: [], virtualServices: [] } : convertGatewayApi(kindList, domain);
    const synthetic = (name: string, namespace: string, spec: unknown, resource: ConfigResource, sources?: readonly ConfigResource[]) => ({ name, namespace, spec, creation: Number.MAX_SAFE_INTEGER, resource, ...(sources ? { sources } : {}) });
    this.virtualServices = ingressSame && gatewayApiSame && same('VirtualService') ? prev!.virtualServices : [
      ...of<VirtualServiceSpec>('VirtualService'),
      ...ingresses.flatMap(({ r, c }) => c!.virtualServices.map((v) => synthetic(v.name, v.namespace, v.spec, r) as Config<VirtualServiceSpec>)),
      ...gatewayApi.virtualServices.map((v) => synthetic(v.name, v.namespace, v.spec, v.resource, v.sources) as Config<VirtualServiceSpec>),
    ].map((c) => ({
      ...c,
      hosts: (c.spec.hosts ?? []).map((h) => resolveHost(h, c.namespace, domain)),
      gateways: (c.spec.gateways?.length ? c.spec.gateways : ['mesh']).map((g) => resolveGatewayRef(g, c.namespace)),
    }));
    if (same('DestinationRule')) {
      this.destinationRules = prev!.destinationRules;
      this.drByHost = prev!.drByHost;
    } else {
      this.destinationRules = of<DestinationRuleSpec>('DestinationRule');
      for (const dr of this.destinationRules) {
        const h = resolveHost(dr.spec.host, dr.namespace, domain);
        const list = this.drByHost.get(h) ?? [];
        list.push(dr);
        this.drByHost.set(h, list);
      }
    }
    this.gateways = ingressSame && gatewayApiSame && same('Gateway') ? prev!.gateways : [
      ...of<GatewaySpec>('Gateway'),
      ...ingresses.map(({ r, c }) => synthetic(c!.gateway.name, c!.gateway.namespace, c!.gateway.spec, r) as Config<GatewaySpec>),
      ...gatewayApi.gateways.map((g) => synthetic(g.name, g.namespace, g.spec, g.resource) as Config<GatewaySpec>),
    ];
    this.sidecars = same('Sidecar') ? prev!.sidecars : of<SidecarSpec>('Sidecar');
    this.peerAuthentications = same('PeerAuthentication') ? prev!.peerAuthentications : of<PeerAuthenticationSpec>('PeerAuthentication');
    this.authorizationPolicies = same('AuthorizationPolicy') ? prev!.authorizationPolicies : of<AuthorizationPolicySpec>('AuthorizationPolicy');
    this.requestAuthentications = same('RequestAuthentication') ? prev!.requestAuthentications : of<RequestAuthenticationSpec>('RequestAuthentication');
    if (same('Secret')) {
      this.secrets = prev!.secrets;
    } else {
      const secrets = new Map<string, Secret>();
      for (const r of kindList('Secret')) secrets.set(`${r.namespace}/${r.name}`, r.object as Secret);
      this.secrets = secrets;
    }
    this.envoyFilters = same('EnvoyFilter') ? prev!.envoyFilters : of<EnvoyFilterSpec>('EnvoyFilter');
    Object.freeze(this);
  }

  /** The next push context, reusing the indexes of `previous` whose inputs did not change. */
  static next(previous: PushContext | undefined, resources: readonly ConfigResource[], version: string, options: Partial<PushOptions> = {}, _trigger?: readonly string[]): PushContext {
    return new PushContext(resources, version, options, previous);
  }

  /** Indexes taken over from the previous push context (for tests and push records). */
  reusedFrom(previous: PushContext): string[] {
    const out: string[] = [];
    for (const k of ['registry', 'virtualServices', 'destinationRules', 'gateways', 'sidecars', 'peerAuthentications', 'authorizationPolicies', 'requestAuthentications', 'secrets'] as const) {
      if (this[k] === previous[k]) out.push(k);
    }
    return out;
  }

  /** Services visible from `namespace` (Istio `exportTo`: `*` default, `.` own namespace). */
  servicesFor(namespace: string): ServiceModel[] {
    return this.registry.services.filter((s) => !s.exportTo || s.exportTo.includes('*') || s.exportTo.includes(namespace) || (s.exportTo.includes('.') && s.namespace === namespace));
  }

  /**
   * The DestinationRule for a host as seen from `namespace`: one in the proxy's namespace first,
   * then one in the service's namespace, then the root namespace (Istio's lookup order).
   */
  destinationRule(hostname: string, namespace: string): Config<DestinationRuleSpec> | undefined {
    let list = this.drByHost.get(hostname);
    if (!list) {
      for (const [h, l] of this.drByHost) {
        if (h.startsWith('*') && (h === '*' || hostname.endsWith(h.slice(1)))) {
          list = l;
          break;
        }
      }
    }
    if (!list?.length) return undefined;
    const svcNs = this.registry.byHost.get(hostname)?.namespace;
    return list.find((d) => d.namespace === namespace) ?? list.find((d) => d.namespace === svcNs) ?? list.find((d) => d.namespace === this.options.rootNamespace) ?? list[0];
  }

  /**
   * VirtualServices bound to `gateway` (`ns/name` or `mesh`) visible from `namespace`. For the mesh,
   * in Istio's order: those private to the proxy's namespace (`exportTo: .`, as GAMMA consumer
   * routes are) first, then those exported to it by name, then the public ones; so the first for a
   * host is the one a caller's own namespace gave it.
   */
  virtualServicesFor(gateway: string, namespace?: string): VirtualServiceConfig[] {
    const out = this.virtualServices.filter((v) => v.gateways.includes(gateway) && (!namespace || gateway !== 'mesh' || visible(v.spec.exportTo, v.namespace, namespace)));
    if (!namespace || gateway !== 'mesh' || !out.some((v) => v.spec.exportTo?.length)) return out;
    const rank = (v: VirtualServiceConfig) => (!v.spec.exportTo?.length || v.spec.exportTo.includes('*') ? 2 : v.namespace === namespace && v.spec.exportTo.includes('.') ? 0 : 1);
    return out.map((v, i) => ({ v, i, k: rank(v) })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.v);
  }

  /** The Sidecar resource for a workload: the one selecting it, else its namespace default, else the root default. */
  sidecarFor(namespace: string, labels: Record<string, string>): Config<SidecarSpec> | undefined {
    const inNs = this.sidecars.filter((s) => s.namespace === namespace);
    return inNs.find((s) => s.spec.workloadSelector?.labels && matches(s.spec.workloadSelector.labels, labels))
      ?? inNs.find((s) => !s.spec.workloadSelector?.labels)
      ?? this.sidecars.find((s) => s.namespace === this.options.rootNamespace && !s.spec.workloadSelector?.labels);
  }

  /** Policies (PeerAuthentication, AuthorizationPolicy, RequestAuthentication) that apply to a workload. */
  policiesFor<S extends { selector?: { matchLabels?: Record<string, string> } }>(list: readonly Config<S>[], namespace: string, labels: Record<string, string>): Config<S>[] {
    return list.filter((p) => {
      if (p.namespace !== namespace && p.namespace !== this.options.rootNamespace) return false;
      const refs = targetRefsOf(p.spec);
      // targetRef(s): only the referenced Gateway's own workloads (in the policy's namespace), never the whole namespace.
      if (refs) return p.namespace === namespace && refs.some((r) => isGatewayRef(r) && (labels[GATEWAY_NAME_LABEL] === r.name || labels[ISTIO_GATEWAY_NAME_LABEL] === r.name));
      const sel = p.spec.selector?.matchLabels;
      if (!sel || Object.keys(sel).length === 0) return true;
      if (p.namespace === this.options.rootNamespace && p.namespace !== namespace) return matches(sel, labels);
      return matches(sel, labels);
    });
  }

  /** Kubernetes Secret by `namespace/name`. */
  secret(namespace: string, name: string): Secret | undefined {
    return this.secrets.get(`${namespace}/${name}`);
  }
}

function sameList(a: readonly ConfigResource[] | undefined, b: readonly ConfigResource[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function sameOptions(a: PushOptions, b: PushOptions): boolean {
  return a.domain === b.domain && a.rootNamespace === b.rootNamespace && a.trustDomain === b.trustDomain;
}

function visible(exportTo: string[] | undefined, own: string, ns: string): boolean {
  if (!exportTo?.length || exportTo.includes('*')) return true;
  return exportTo.includes(ns) || (exportTo.includes('.') && own === ns);
}

/** The label Gateway API implementations put on a Gateway's workloads. */
const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
/** Istio's older label for the same. */
const ISTIO_GATEWAY_NAME_LABEL = 'istio.io/gateway-name';

type Ref = { group?: unknown; kind?: unknown; name?: unknown };

/** A policy's `targetRef` / `targetRefs`, or undefined when it selects by labels. */
function targetRefsOf(spec: unknown): Ref[] | undefined {
  const s = spec as { targetRef?: unknown; targetRefs?: unknown };
  const list = [...(s.targetRef && typeof s.targetRef === 'object' ? [s.targetRef as Ref] : []), ...(Array.isArray(s.targetRefs) ? (s.targetRefs as Ref[]) : [])];
  return list.length ? list : undefined;
}

const isGatewayRef = (r: Ref) => r && r.kind === 'Gateway' && (r.group === undefined || r.group === 'gateway.networking.k8s.io');

/** True when all selector labels are present in `labels`. */
export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}
