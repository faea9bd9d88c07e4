// networking.istio.io: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar, EnvoyFilter.
import {
  anyObject, bool, duration, int, labels, list, mapOf, num, obj, oneOfStrings, str, strings, uint, type Schema,
} from './schema';

const stringMatch: Schema = obj(
  { exact: str('Exact string match.'), prefix: str('Prefix-based match.'), regex: str('RE2 regular expression match.') },
  { maxProperties: 1, description: 'Exactly one of exact, prefix or regex.' },
);
const portSelector: Schema = obj({ number: uint('Port number.') });
const destination: Schema = obj(
  {
    host: str('Service name in the registry (Kubernetes Service or ServiceEntry host).'),
    subset: str('Subset defined in the DestinationRule for the host.'),
    port: portSelector,
  },
  { required: ['host'] },
);
const percent: Schema = obj({ value: num('Percentage, 0.0 to 100.0.') });
const headerOps: Schema = obj({ set: mapOf(str()), add: mapOf(str()), remove: strings() });
const headers: Schema = obj({ request: headerOps, response: headerOps });

const httpMatch: Schema = obj({
  name: str(),
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: mapOf(stringMatch),
  port: uint(),
  sourceLabels: labels(),
  gateways: strings(),
  queryParams: mapOf(stringMatch),
  ignoreUriCase: bool(),
  withoutHeaders: mapOf(stringMatch),
  sourceNamespace: str(),
  statPrefix: str(),
});
const httpRouteDestination: Schema = obj({ destination, weight: int('Relative share of traffic.', 0), headers }, { required: ['destination'] });
const routeDestination: Schema = obj({ destination, weight: int(undefined, 0) }, { required: ['destination'] });
const fault: Schema = obj({
  delay: obj({ fixedDelay: duration('Delay before forwarding, e.g. 5s.'), percentage: percent, percent: int(undefined, 0, 100) }),
  abort: obj({ httpStatus: int('HTTP status to answer with.', 0, 999), grpcStatus: str(), http2Error: str(), percentage: percent }),
});
const httpRoute: Schema = obj({
  name: str(),
  match: list(httpMatch),
  route: list(httpRouteDestination),
  redirect: obj({
    uri: str(), authority: str(), port: uint(), derivePort: oneOfStrings(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']),
    scheme: str(), redirectCode: uint(),
  }),
  directResponse: obj({ status: uint(), body: obj({ string: str(), bytes: { type: 'string', format: 'byte' } }) }, { required: ['status'] }),
  delegate: obj({ name: str(), namespace: str() }),
  rewrite: obj({ uri: str(), authority: str(), uriRegexRewrite: obj({ match: str(), rewrite: str() }) }),
  timeout: duration('Timeout for the whole request.'),
  retries: obj({ attempts: int(undefined, 0), perTryTimeout: duration(), retryOn: str(), retryRemoteLocalities: bool() }),
  fault,
  mirror: destination,
  mirrorPercentage: percent,
  mirrors: list(obj({ destination, percentage: percent }, { required: ['destination'] })),
  corsPolicy: obj({
    allowOrigins: list(stringMatch), allowOrigin: strings(), allowMethods: strings(), allowHeaders: strings(),
    exposeHeaders: strings(), maxAge: duration(), allowCredentials: bool(),
    unmatchedPreflights: oneOfStrings(['UNSPECIFIED', 'FORWARD', 'IGNORE']),
  }),
  headers,
});
const tlsRoute: Schema = obj(
  {
    match: list(obj({
      sniHosts: strings(), destinationSubnets: strings(), port: uint(), sourceLabels: labels(), gateways: strings(), sourceNamespace: str(),
    }, { required: ['sniHosts'] })),
    route: list(routeDestination),
  },
  { required: ['match'] },
);
const tcpRoute: Schema = obj({
  match: list(obj({
    destinationSubnets: strings(), port: uint(), sourceSubnet: str(), sourceLabels: labels(), gateways: strings(), sourceNamespace: str(),
  })),
  route: list(routeDestination),
});

/** VirtualService: routing rules for hosts. */
export const virtualServiceSpec: Schema = obj({
  hosts: strings('Destination hosts the rules apply to.'),
  gateways: strings('Gateways (and "mesh") the rules apply to.'),
  http: list(httpRoute),
  tls: list(tlsRoute),
  tcp: list(tcpRoute),
  exportTo: strings(),
});

const clientTls: Schema = obj({
  mode: oneOfStrings(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']),
  clientCertificate: str(), privateKey: str(), caCertificates: str(), credentialName: str(),
  subjectAltNames: strings(), sni: str(), insecureSkipVerify: bool(), caCrl: str(),
});
const loadBalancer: Schema = obj({
  simple: oneOfStrings(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']),
  consistentHash: obj({
    httpHeaderName: str(),
    httpCookie: obj({ name: str(), path: str(), ttl: duration(), attributes: list(obj({ name: str(), value: str() })) }, { required: ['name'] }),
    useSourceIp: bool(),
    httpQueryParameterName: str(),
    ringHash: obj({ minimumRingSize: { type: 'integer', minimum: 0 } }),
    maglev: obj({ tableSize: { type: 'integer', minimum: 0 } }),
    minimumRingSize: { type: 'integer', minimum: 0 },
  }),
  localityLbSetting: anyObject('Locality-weighted load balancing (kept as given).'),
  warmupDurationSecs: duration(),
});
const connectionPool: Schema = obj({
  tcp: obj({
    maxConnections: int(), connectTimeout: duration(), maxConnectionDuration: duration(), idleTimeout: duration(),
    tcpKeepalive: obj({ probes: uint(), time: duration(), interval: duration() }),
  }),
  http: obj({
    http1MaxPendingRequests: int(), http2MaxRequests: int(), maxRequestsPerConnection: int(), maxRetries: int(),
    idleTimeout: duration(), h2UpgradePolicy: oneOfStrings(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']),
    useClientProtocol: bool(), maxConcurrentStreams: int(),
  }),
});
const outlierDetection: Schema = obj({
  splitExternalLocalOriginErrors: bool(), consecutiveLocalOriginFailures: { type: 'integer', minimum: 0 },
  consecutiveGatewayErrors: { type: 'integer', minimum: 0 }, consecutive5xxErrors: { type: 'integer', minimum: 0 },
  interval: duration(), baseEjectionTime: duration(), maxEjectionPercent: int(undefined, 0, 100),
  minHealthPercent: int(undefined, 0, 100), consecutiveErrors: int(),
});
const portTrafficPolicy: Schema = obj({ port: portSelector, loadBalancer, connectionPool, outlierDetection, tls: clientTls });
const trafficPolicy: Schema = obj({
  loadBalancer, connectionPool, outlierDetection, tls: clientTls,
  portLevelSettings: list(portTrafficPolicy),
  tunnel: obj({ protocol: str(), targetHost: str(), targetPort: uint() }, { required: ['targetHost', 'targetPort'] }),
  proxyProtocol: obj({ version: oneOfStrings(['V1', 'V2']) }),
});

/** DestinationRule: policies and subsets for a host. */
export const destinationRuleSpec: Schema = obj(
  {
    host: str('Service the rule applies to.'),
    trafficPolicy,
    subsets: list(obj({ name: str(), labels: labels(), trafficPolicy }, { required: ['name'] })),
    exportTo: strings(),
    workloadSelector: obj({ matchLabels: labels() }),
  },
  { required: ['host'] },
);

const port: Schema = obj({ number: uint(), protocol: str('HTTP|HTTPS|GRPC|HTTP2|MONGO|TCP|TLS'), name: str(), targetPort: uint() });
const serverTls: Schema = obj({
  httpsRedirect: bool(),
  mode: oneOfStrings(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']),
  serverCertificate: str(), privateKey: str(), caCertificates: str(), credentialName: str(), credentialNames: strings(),
  subjectAltNames: strings(), verifyCertificateSpki: strings(), verifyCertificateHash: strings(),
  minProtocolVersion: oneOfStrings(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']),
  maxProtocolVersion: oneOfStrings(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']),
  cipherSuites: strings(), caCrl: str(),
});

/** Gateway: ports, protocols and hosts a gateway proxy serves. */
export const gatewaySpec: Schema = obj({
  servers: list(obj(
    { port: obj(port.properties!, { required: ['number', 'protocol', 'name'] }), bind: str(), hosts: strings(), tls: serverTls, defaultEndpoint: str(), name: str() },
    { required: ['port', 'hosts'] },
  )),
  selector: labels('Pods (gateway proxies) this Gateway applies to.'),
});

const workloadEntry: Schema = obj({
  address: str(), ports: mapOf(uint()), labels: labels(), network: str(), locality: str(), weight: uint(), serviceAccount: str(),
});

/** ServiceEntry: adds a service to the mesh's registry. */
export const serviceEntrySpec: Schema = obj(
  {
    hosts: strings(),
    addresses: strings(),
    ports: list(obj(port.properties!, { required: ['number', 'name'] })),
    location: oneOfStrings(['MESH_EXTERNAL', 'MESH_INTERNAL']),
    resolution: oneOfStrings(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']),
    endpoints: list(workloadEntry),
    workloadSelector: obj({ labels: labels() }),
    exportTo: strings(),
    subjectAltNames: strings(),
  },
  { required: ['hosts'] },
);

/** Sidecar: narrows what a sidecar proxy sees and accepts. */
export const sidecarSpec: Schema = obj({
  workloadSelector: obj({ labels: labels() }),
  ingress: list(obj({
    port, bind: str(), captureMode: oneOfStrings(['DEFAULT', 'IPTABLES', 'NONE']), defaultEndpoint: str(), tls: serverTls, connectionPool,
  }, { required: ['port'] })),
  egress: list(obj({ port, bind: str(), captureMode: oneOfStrings(['DEFAULT', 'IPTABLES', 'NONE']), hosts: strings() }, { required: ['hosts'] })),
  inboundConnectionPool: connectionPool,
  outboundTrafficPolicy: obj({ mode: oneOfStrings(['REGISTRY_ONLY', 'ALLOW_ANY']), egressProxy: destination }),
});

const efPort = int(undefined, 0, 65535);
/** EnvoyFilter: patches to the Envoy configuration generated for the selected workloads (v1alpha3 only, as in Istio). */
export const envoyFilterSpec: Schema = obj({
  workloadSelector: obj({ labels: labels() }),
  targetRefs: list(obj({ group: str(), kind: str(), name: str(), namespace: str() }, { required: ['kind', 'name'] })),
  priority: int('Order of application: lower first.'),
  configPatches: list(obj({
    applyTo: oneOfStrings(['INVALID', 'LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER', 'ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE', 'CLUSTER', 'EXTENSION_CONFIG', 'BOOTSTRAP', 'LISTENER_FILTER']),
    match: obj({
      context: oneOfStrings(['ANY', 'SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY']),
      proxy: obj({ proxyVersion: str(), metadata: labels() }),
      listener: obj({
        portNumber: efPort, portName: str(), name: str(), listenerFilter: str(),
        filterChain: obj({
          name: str(), sni: str(), transportProtocol: str(), applicationProtocols: str(), destinationPort: efPort,
          filter: obj({ name: str(), subFilter: obj({ name: str() }) }),
        }),
      }),
      routeConfiguration: obj({
        portNumber: efPort, portName: str(), gateway: str(), name: str(),
        vhost: obj({ name: str(), domainName: str(), route: obj({ name: str(), action: oneOfStrings(['ANY', 'ROUTE', 'REDIRECT', 'DIRECT_RESPONSE']) }) }),
      }),
      cluster: obj({ portNumber: efPort, service: str(), subset: str(), name: str() }),
    }),
    patch: obj({
      operation: oneOfStrings(['INVALID', 'MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST', 'REPLACE']),
      value: anyObject('The Envoy object, in proto3 JSON.'),
      filterClass: oneOfStrings(['UNSPECIFIED', 'AUTHN', 'AUTHZ', 'STATS']),
    }),
  })),
});
