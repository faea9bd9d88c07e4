/**
 * TypeScript types for Istio's `networking.istio.io` and `security.istio.io` resources (the fields
 * of v1, v1beta1 and v1alpha3, which share one schema). Field names follow Istio's API exactly.
 */
import type { KubeObject, LabelSelector, PolicyTargetReference, WorkloadSelector } from './meta';

/** `StringMatch`: one of exact, prefix, regex (RE2). */
export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

/** `PortSelector`. */
export interface PortSelector {
  number?: number;
}

/** `Destination`: service host, optional subset and port. */
export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

/** `Headers.HeaderOperations`. */
export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

/** `Headers`: request and response header manipulation. */
export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

/** `Percent`. */
export interface Percent {
  value?: number;
}

/** `HTTPMatchRequest`. */
export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  withoutHeaders?: Record<string, StringMatch>;
  sourceNamespace?: string;
  statPrefix?: string;
}

/** `HTTPRouteDestination`. */
export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
  headers?: Headers;
}

/** `HTTPRedirect`. */
export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  scheme?: string;
  redirectCode?: number;
}

/** `HTTPRewrite`. */
export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: { match: string; rewrite: string };
}

/** `HTTPRetry`. */
export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: string;
  retryOn?: string;
  retryRemoteLocalities?: boolean;
  /** Minimum wait before a retry (Envoy `retry_back_off.base_interval`). */
  backoff?: string;
}

/** `HTTPFaultInjection`. */
export interface HTTPFaultInjection {
  delay?: { fixedDelay?: string; exponentialDelay?: string; percentage?: Percent; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; http2Error?: string; percentage?: Percent };
}

/** `HTTPDirectResponse`. */
export interface HTTPDirectResponse {
  status: number;
  body?: { string?: string; bytes?: string };
}

/** `HTTPMirrorPolicy`. */
export interface HTTPMirrorPolicy {
  destination: Destination;
  percentage?: Percent;
}

/** `CorsPolicy`. */
export interface CorsPolicy {
  allowOrigins?: StringMatch[];
  allowOrigin?: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: string;
  allowCredentials?: boolean;
  unmatchedPreflights?: string;
}

/** `HTTPRoute`. */
export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  delegate?: { name: string; namespace?: string };
  rewrite?: HTTPRewrite;
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirror?: Destination;
  mirrors?: HTTPMirrorPolicy[];
  mirrorPercentage?: Percent;
  mirrorPercent?: number;
  corsPolicy?: CorsPolicy;
  headers?: Headers;
}

/** `RouteDestination` (TCP and TLS routes). */
export interface RouteDestination {
  destination: Destination;
  weight?: number;
}

/** `L4MatchAttributes`. */
export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  sourceNamespace?: string;
}

/** `TLSMatchAttributes`. */
export interface TLSMatchAttributes extends L4MatchAttributes {
  sniHosts: string[];
}

/** `TLSRoute`. */
export interface TLSRoute {
  match: TLSMatchAttributes[];
  route?: RouteDestination[];
}

/** `TCPRoute`. */
export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

/** `VirtualService` spec. */
export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
  exportTo?: string[];
}

/** `ClientTLSSettings` (DestinationRule `trafficPolicy.tls`). */
export interface ClientTLSSettings {
  mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
  caCrl?: string;
}

/** `LoadBalancerSettings`. */
export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  consistentHash?: {
    httpHeaderName?: string;
    httpCookie?: { name: string; path?: string; ttl?: string };
    useSourceIp?: boolean;
    httpQueryParameterName?: string;
    ringHash?: { minimumRingSize?: number };
    maglev?: { tableSize?: number };
    minimumRingSize?: number;
  };
  localityLbSetting?: Record<string, unknown>;
  warmupDurationSecs?: string;
}

/** `ConnectionPoolSettings`. */
export interface ConnectionPoolSettings {
  tcp?: {
    maxConnections?: number;
    connectTimeout?: string;
    tcpKeepalive?: { probes?: number; time?: string; interval?: string };
    maxConnectionDuration?: string;
    idleTimeout?: string;
  };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRequestsPerConnection?: number;
    maxRetries?: number;
    idleTimeout?: string;
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    useClientProtocol?: boolean;
    maxConcurrentStreams?: number;
  };
}

/** `OutlierDetection`. */
export interface OutlierDetection {
  consecutiveErrors?: number;
  consecutiveGatewayErrors?: number;
  consecutive5xxErrors?: number;
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
  splitExternalLocalOriginErrors?: boolean;
  consecutiveLocalOriginFailures?: number;
}

/** `TrafficPolicy.PortTrafficPolicy`. */
export interface PortTrafficPolicy {
  port?: PortSelector;
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

/** `TrafficPolicy`. */
export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  portLevelSettings?: PortTrafficPolicy[];
  tunnel?: Record<string, unknown>;
  proxyProtocol?: Record<string, unknown>;
}

/** `Subset`. */
export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

/** `DestinationRule` spec. */
export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  /** `workloadSelector.matchLabels` (DestinationRule uses Kubernetes' label-selector form). */
  workloadSelector?: { matchLabels?: Record<string, string> };
}

/** `Port` of a Gateway server or ServiceEntry (`protocol`: HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS). */
export interface ServerPort {
  number: number;
  protocol?: string;
  name?: string;
  targetPort?: number;
}

/** `ServerTLSSettings`. */
export interface ServerTLSSettings {
  httpsRedirect?: boolean;
  mode?: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  credentialNames?: string[];
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[];
  verifyCertificateHash?: string[];
  minProtocolVersion?: string;
  maxProtocolVersion?: string;
  cipherSuites?: string[];
}

/** `Server` of a Gateway. */
export interface Server {
  port: ServerPort;
  bind?: string;
  hosts: string[];
  tls?: ServerTLSSettings;
  defaultEndpoint?: string;
  name?: string;
}

/** `Gateway` spec. */
export interface GatewaySpec {
  selector?: Record<string, string>;
  servers: Server[];
}

/** `WorkloadEntry` (inline endpoints of a ServiceEntry). */
export interface WorkloadEntry {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

/** `ServiceEntry` spec. */
export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: ServerPort[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  endpoints?: WorkloadEntry[];
  workloadSelector?: WorkloadSelector;
  exportTo?: string[];
  subjectAltNames?: string[];
}

/** `IstioEgressListener` / `IstioIngressListener` of a Sidecar. */
export interface SidecarListener {
  port?: ServerPort;
  bind?: string;
  captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  hosts?: string[];
  defaultEndpoint?: string;
  tls?: ServerTLSSettings;
  connectionPool?: ConnectionPoolSettings;
}

/** `Sidecar` spec. */
export interface SidecarSpec {
  workloadSelector?: WorkloadSelector;
  ingress?: SidecarListener[];
  egress?: SidecarListener[];
  outboundTrafficPolicy?: { mode?: 'REGISTRY_ONLY' | 'ALLOW_ANY'; egressProxy?: Destination };
  inboundConnectionPool?: ConnectionPoolSettings;
}

/** PeerAuthentication mTLS mode. */
export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

/** `PeerAuthentication` spec. */
export interface PeerAuthenticationSpec {
  selector?: LabelSelector;
  mtls?: { mode?: MtlsMode };
  portLevelMtls?: Record<string, { mode?: MtlsMode }>;
}

/** `Source` of an AuthorizationPolicy rule. */
export interface AuthzSource {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

/** `Operation` of an AuthorizationPolicy rule. */
export interface AuthzOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

/** `Rule` of an AuthorizationPolicy. */
export interface AuthzRule {
  from?: { source: AuthzSource }[];
  to?: { operation: AuthzOperation }[];
  when?: { key: string; values?: string[]; notValues?: string[] }[];
}

/** `AuthorizationPolicy` spec. */
export interface AuthorizationPolicySpec {
  selector?: LabelSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  rules?: AuthzRule[];
  action?: 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
  provider?: { name: string };
}

/** `JWTRule` of a RequestAuthentication. */
export interface JWTRule {
  issuer: string;
  audiences?: string[];
  jwksUri?: string;
  /** The older spelling of `jwksUri`, still in Istio's API. */
  jwks_uri?: string;
  jwks?: string;
  fromHeaders?: { name: string; prefix?: string }[];
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
  outputClaimToHeaders?: { header: string; claim: string }[];
  timeout?: string;
}

/** `RequestAuthentication` spec. */
export interface RequestAuthenticationSpec {
  selector?: LabelSelector;
  targetRef?: PolicyTargetReference;
  targetRefs?: PolicyTargetReference[];
  jwtRules?: JWTRule[];
}

export type VirtualService = KubeObject<VirtualServiceSpec> & { kind: 'VirtualService' };
export type DestinationRule = KubeObject<DestinationRuleSpec> & { kind: 'DestinationRule' };
export type Gateway = KubeObject<GatewaySpec> & { kind: 'Gateway' };
export type ServiceEntry = KubeObject<ServiceEntrySpec> & { kind: 'ServiceEntry' };
export type Sidecar = KubeObject<SidecarSpec> & { kind: 'Sidecar' };
export type PeerAuthentication = KubeObject<PeerAuthenticationSpec> & { kind: 'PeerAuthentication' };
export type AuthorizationPolicy = KubeObject<AuthorizationPolicySpec> & { kind: 'AuthorizationPolicy' };
export type RequestAuthentication = KubeObject<RequestAuthenticationSpec> & { kind: 'RequestAuthentication' };
