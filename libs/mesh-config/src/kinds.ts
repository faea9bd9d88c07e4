/** The resource kinds tsmesh reads, with their API groups and accepted versions. */

/** Every kind tsmesh understands. */
export type Kind =
  | 'VirtualService' | 'DestinationRule' | 'Gateway' | 'ServiceEntry' | 'Sidecar' | 'EnvoyFilter'
  | 'PeerAuthentication' | 'AuthorizationPolicy' | 'RequestAuthentication'
  | 'Service' | 'EndpointSlice' | 'Pod' | 'Namespace' | 'Secret' | 'ServiceAccount' | 'Ingress'
  // Kubernetes Gateway API (gateway.networking.k8s.io). Its Gateway is `KubernetesGateway` here, as
  // the name `Gateway` is Istio's; messages and files still say `Gateway`.
  | 'GatewayClass' | 'KubernetesGateway' | 'HTTPRoute' | 'GRPCRoute' | 'ReferenceGrant' | 'TLSRoute' | 'TCPRoute';

/** How one kind is served by the Kubernetes API. */
export interface KindInfo {
  kind: Kind;
  group: string;
  versions: readonly string[];
  /** Plural resource name (URL path segment). */
  plural: string;
  namespaced: boolean;
  /** Istio config (validated by tsmesh) rather than a core Kubernetes object. */
  istio: boolean;
  /** Kubernetes Gateway API config (validated against its published schema). */
  gatewayApi?: boolean;
  /** The `kind` the API server serves, when it differs from tsmesh's name (KubernetesGateway → Gateway). */
  apiKind?: string;
}

const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;

/** The Kubernetes Gateway API group. */
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';

/** Kind table. */
export const KINDS: Readonly<Record<Kind, KindInfo>> = {
  VirtualService: { kind: 'VirtualService', group: 'networking.istio.io', versions: ISTIO_VERSIONS, plural: 'virtualservices', namespaced: true, istio: true },
  DestinationRule: { kind: 'DestinationRule', group: 'networking.istio.io', versions: ISTIO_VERSIONS, plural: 'destinationrules', namespaced: true, istio: true },
  Gateway: { kind: 'Gateway', group: 'networking.istio.io', versions: ISTIO_VERSIONS, plural: 'gateways', namespaced: true, istio: true },
  ServiceEntry: { kind: 'ServiceEntry', group: 'networking.istio.io', versions: ISTIO_VERSIONS, plural: 'serviceentries', namespaced: true, istio: true },
  Sidecar: { kind: 'Sidecar', group: 'networking.istio.io', versions: ISTIO_VERSIONS, plural: 'sidecars', namespaced: true, istio: true },
  EnvoyFilter: { kind: 'EnvoyFilter', group: 'networking.istio.io', versions: ['v1alpha3'], plural: 'envoyfilters', namespaced: true, istio: true },
  PeerAuthentication: { kind: 'PeerAuthentication', group: 'security.istio.io', versions: ISTIO_VERSIONS, plural: 'peerauthentications', namespaced: true, istio: true },
  AuthorizationPolicy: { kind: 'AuthorizationPolicy', group: 'security.istio.io', versions: ISTIO_VERSIONS, plural: 'authorizationpolicies', namespaced: true, istio: true },
  RequestAuthentication: { kind: 'RequestAuthentication', group: 'security.istio.io', versions: ISTIO_VERSIONS, plural: 'requestauthentications', namespaced: true, istio: true },
  Service: { kind: 'Service', group: '', versions: ['v1'], plural: 'services', namespaced: true, istio: false },
  EndpointSlice: { kind: 'EndpointSlice', group: 'discovery.k8s.io', versions: ['v1'], plural: 'endpointslices', namespaced: true, istio: false },
  Pod: { kind: 'Pod', group: '', versions: ['v1'], plural: 'pods', namespaced: true, istio: false },
  Namespace: { kind: 'Namespace', group: '', versions: ['v1'], plural: 'namespaces', namespaced: false, istio: false },
  Secret: { kind: 'Secret', group: '', versions: ['v1'], plural: 'secrets', namespaced: true, istio: false },
  ServiceAccount: { kind: 'ServiceAccount', group: '', versions: ['v1'], plural: 'serviceaccounts', namespaced: true, istio: false },
  Ingress: { kind: 'Ingress', group: 'networking.k8s.io', versions: ['v1'], plural: 'ingresses', namespaced: true, istio: false },
  GatewayClass: { kind: 'GatewayClass', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], plural: 'gatewayclasses', namespaced: false, istio: false, gatewayApi: true },
  KubernetesGateway: { kind: 'KubernetesGateway', apiKind: 'Gateway', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], plural: 'gateways', namespaced: true, istio: false, gatewayApi: true },
  HTTPRoute: { kind: 'HTTPRoute', group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], plural: 'httproutes', namespaced: true, istio: false, gatewayApi: true },
  GRPCRoute: { kind: 'GRPCRoute', group: GATEWAY_API_GROUP, versions: ['v1'], plural: 'grpcroutes', namespaced: true, istio: false, gatewayApi: true },
  // Served at v1beta1 by every standard-channel release (v1 only by the newest).
  ReferenceGrant: { kind: 'ReferenceGrant', group: GATEWAY_API_GROUP, versions: ['v1beta1', 'v1'], plural: 'referencegrants', namespaced: true, istio: false, gatewayApi: true },
  // Experimental channel (v1alpha2, as Istio serves them); TLSRoute also at v1alpha3 and v1.
  TLSRoute: { kind: 'TLSRoute', group: GATEWAY_API_GROUP, versions: ['v1alpha2', 'v1alpha3', 'v1'], plural: 'tlsroutes', namespaced: true, istio: false, gatewayApi: true },
  TCPRoute: { kind: 'TCPRoute', group: GATEWAY_API_GROUP, versions: ['v1alpha2'], plural: 'tcproutes', namespaced: true, istio: false, gatewayApi: true },
};

/** tsmesh's kind for an object's `group` and served `kind` (Gateway of gateway.networking.k8s.io → KubernetesGateway). */
export function kindFor(group: string, apiKind: string): string {
  return apiKind === 'Gateway' && group === GATEWAY_API_GROUP ? 'KubernetesGateway' : apiKind;
}

/** The `kind` the API server serves for one of tsmesh's kinds. */
export function apiKindOf(kind: Kind): string {
  return KINDS[kind].apiKind ?? kind;
}

/** All kinds, Istio config first. */
export const ALL_KINDS: readonly Kind[] = Object.keys(KINDS) as Kind[];

/** Splits `group/version` (or `v1` for the core group). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** True when `kind` is one tsmesh reads. */
export function isKnownKind(kind: unknown): kind is Kind {
  return typeof kind === 'string' && Object.hasOwn(KINDS, kind);
}
