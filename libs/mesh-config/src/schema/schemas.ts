/**
 * Schemas of the resources tsmesh reads. Istio kinds are closed (unknown fields are errors, as
 * Istio's CRD structural schemas make them); core Kubernetes kinds are open and only the fields
 * tsmesh uses are checked.
 */
import type { Kind } from '../kinds';
import { any, bool, duration, enumOf, int, intOrString, labels, list, map, num, obj, str, strings, type Schema } from './dsl';

const port = int(1, 65535);
const stringMatch = obj({ exact: str(), prefix: str(), regex: str() }, { oneOf: ['exact', 'prefix', 'regex'] });
const percent = obj({ value: num(0, 100) });
const portSelector = obj({ number: port });
const destination = obj({ host: str(), subset: str(), port: portSelector }, { required: ['host'] });
const headerOps = obj({ set: labels, add: labels, remove: strings });
const headers = obj({ request: headerOps, response: headerOps });
const selector = obj({ matchLabels: labels, matchExpressions: list(any) });
const workloadSelector = obj({ labels });
const targetRef = obj({ group: str(), kind: str(), name: str(), namespace: str() }, { required: ['kind', 'name'] });
const metadata = obj({}, { open: true });
const envelope = { apiVersion: str(), kind: str(), metadata, status: any };

const httpMatch = obj({
  name: str(), uri: stringMatch, scheme: stringMatch, method: stringMatch, authority: stringMatch,
  headers: map(stringMatch), port, sourceLabels: labels, gateways: strings, queryParams: map(stringMatch),
  ignoreUriCase: bool, withoutHeaders: map(stringMatch), sourceNamespace: str(), statPrefix: str(),
});
const httpRoute = obj({
  name: str(),
  match: list(httpMatch),
  route: list(obj({ destination, weight: int(0, 100), headers }, { required: ['destination'] })),
  redirect: obj({ uri: str(), authority: str(), port, derivePort: enumOf('FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'), scheme: str(), redirectCode: int(300, 399) }),
  directResponse: obj({ status: int(200, 599), body: obj({ string: str(), bytes: str() }, { oneOf: ['string', 'bytes'] }) }, { required: ['status'] }),
  delegate: obj({ name: str(), namespace: str() }, { required: ['name'] }),
  rewrite: obj({ uri: str(), authority: str(), uriRegexRewrite: obj({ match: str(), rewrite: str() }, { required: ['match', 'rewrite'] }) }),
  timeout: duration,
  retries: obj({ attempts: int(0), perTryTimeout: duration, retryOn: str(), retryRemoteLocalities: bool, retryIgnorePreviousHosts: bool, backoff: duration }),
  fault: obj({
    delay: obj({ fixedDelay: duration, exponentialDelay: duration, percentage: percent, percent: int(0, 100) }),
    abort: obj({ httpStatus: int(200, 599), grpcStatus: str(), http2Error: str(), percentage: percent }),
  }),
  mirror: destination,
  mirrors: list(obj({ destination, percentage: percent }, { required: ['destination'] })),
  mirrorPercentage: percent,
  mirrorPercent: int(0, 100),
  corsPolicy: obj({
    allowOrigins: list(stringMatch), allowOrigin: strings, allowMethods: strings, allowHeaders: strings,
    exposeHeaders: strings, maxAge: duration, allowCredentials: bool, unmatchedPreflights: enumOf('UNSPECIFIED', 'FORWARD', 'IGNORE'),
  }),
  headers,
}, { oneOf: ['route', 'redirect', 'directResponse', 'delegate'] });
const l4Match = { destinationSubnets: strings, port, sourceLabels: labels, gateways: strings, sourceNamespace: str() };
const routeDestination = obj({ destination, weight: int(0, 100) }, { required: ['destination'] });

const clientTls = obj({
  mode: enumOf('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'), clientCertificate: str(), privateKey: str(), caCertificates: str(),
  credentialName: str(), subjectAltNames: strings, sni: str(), insecureSkipVerify: bool, caCrl: str(),
});
const loadBalancer = obj({
  simple: enumOf('UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'),
  consistentHash: obj({
    httpHeaderName: str(), httpCookie: obj({ name: str(), path: str(), ttl: duration }, { required: ['name'] }), useSourceIp: bool,
    httpQueryParameterName: str(), ringHash: obj({ minimumRingSize: int(0) }), maglev: obj({ tableSize: int(0) }), minimumRingSize: int(0),
  }, { oneOf: ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] }),
  localityLbSetting: any,
  warmupDurationSecs: duration,
}, { oneOf: ['simple', 'consistentHash'] });
const connectionPool = obj({
  tcp: obj({
    maxConnections: int(0), connectTimeout: duration, tcpKeepalive: obj({ probes: int(0), time: duration, interval: duration }),
    maxConnectionDuration: duration, idleTimeout: duration,
  }),
  http: obj({
    http1MaxPendingRequests: int(0), http2MaxRequests: int(0), maxRequestsPerConnection: int(0), maxRetries: int(0), idleTimeout: duration,
    h2UpgradePolicy: enumOf('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'), useClientProtocol: bool, maxConcurrentStreams: int(0),
  }),
});
const outlierDetection = obj({
  consecutiveErrors: int(0), consecutiveGatewayErrors: int(0), consecutive5xxErrors: int(0), interval: duration, baseEjectionTime: duration,
  maxEjectionPercent: int(0, 100), minHealthPercent: int(0, 100), splitExternalLocalOriginErrors: bool, consecutiveLocalOriginFailures: int(0),
});
const policyFields = { loadBalancer, connectionPool, outlierDetection, tls: clientTls };
const trafficPolicy = obj({
  ...policyFields,
  portLevelSettings: list(obj({ port: portSelector, ...policyFields })),
  tunnel: any,
  proxyProtocol: any,
});
const serverPort = obj({ number: port, protocol: str(), name: str(), targetPort: port }, { required: ['number'] });
const serverTls = obj({
  httpsRedirect: bool, mode: enumOf('PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'),
  serverCertificate: str(), privateKey: str(), caCertificates: str(), caCrl: str(), credentialName: str(), credentialNames: strings,
  subjectAltNames: strings, verifyCertificateSpki: strings, verifyCertificateHash: strings,
  minProtocolVersion: enumOf('TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'), maxProtocolVersion: enumOf('TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'),
  cipherSuites: strings,
});
const mtlsMode = enumOf('UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT');
const sidecarListener = obj({ port: serverPort, bind: str(), captureMode: enumOf('DEFAULT', 'IPTABLES', 'NONE'), hosts: strings, defaultEndpoint: str(), tls: serverTls, connectionPool });

const spec = (s: Schema, required = true) => obj({ ...envelope, spec: s }, { required: required ? ['spec'] : [] });

/** Schema per kind, for the whole object. */
export const SCHEMAS: Readonly<Partial<Record<Kind, Schema>>> = {
  VirtualService: spec(obj({
    hosts: strings, gateways: strings, exportTo: strings,
    http: list(httpRoute),
    tls: list(obj({ match: list(obj({ sniHosts: strings, ...l4Match }, { required: ['sniHosts'] }), 1), route: list(routeDestination) }, { required: ['match'] })),
    tcp: list(obj({ match: list(obj({ ...l4Match, sourceSubnet: str() })), route: list(routeDestination) })),
  })),
  DestinationRule: spec(obj({
    host: str(), trafficPolicy, exportTo: strings, workloadSelector,
    subsets: list(obj({ name: str(/^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/, 'a valid subset name'), labels, trafficPolicy }, { required: ['name'] })),
  }, { required: ['host'] })),
  Gateway: spec(obj({
    selector: labels,
    servers: list(obj({ port: serverPort, bind: str(), hosts: list(str(), 1), tls: serverTls, defaultEndpoint: str(), name: str() }, { required: ['port', 'hosts'] })),
  }, { required: ['servers'] })),
  ServiceEntry: spec(obj({
    hosts: list(str(), 1), addresses: strings, ports: list(serverPort), location: enumOf('MESH_EXTERNAL', 'MESH_INTERNAL'),
    resolution: enumOf('NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'),
    endpoints: list(obj({ address: str(), ports: map(port), labels, network: str(), locality: str(), weight: int(0), serviceAccount: str() })),
    workloadSelector, exportTo: strings, subjectAltNames: strings,
  }, { required: ['hosts'] })),
  EnvoyFilter: spec(obj({
    workloadSelector,
    targetRefs: list(targetRef),
    priority: int(),
    configPatches: list(obj({
      applyTo: enumOf('INVALID', 'LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER', 'ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE', 'CLUSTER', 'EXTENSION_CONFIG', 'BOOTSTRAP', 'LISTENER_FILTER'),
      match: obj({
        context: enumOf('ANY', 'SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY'),
        proxy: obj({ proxyVersion: str(), metadata: labels }),
        listener: obj({
          portNumber: int(0, 65535), portName: str(), name: str(), listenerFilter: str(),
          filterChain: obj({
            name: str(), sni: str(), transportProtocol: str(), applicationProtocols: str(), destinationPort: int(0, 65535),
            filter: obj({ name: str(), subFilter: obj({ name: str() }) }),
          }),
        }),
        routeConfiguration: obj({
          portNumber: int(0, 65535), portName: str(), gateway: str(), name: str(),
          vhost: obj({ name: str(), domainName: str(), route: obj({ name: str(), action: enumOf('ANY', 'ROUTE', 'REDIRECT', 'DIRECT_RESPONSE') }) }),
        }),
        cluster: obj({ portNumber: int(0, 65535), service: str(), subset: str(), name: str() }),
      }, { oneOf: ['listener', 'routeConfiguration', 'cluster'] }),
      patch: obj({
        operation: enumOf('INVALID', 'MERGE', 'ADD', 'REMOVE', 'INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST', 'REPLACE'),
        value: obj({}, { open: true }),
        filterClass: enumOf('UNSPECIFIED', 'AUTHN', 'AUTHZ', 'STATS'),
      }),
    })),
  })),
  Sidecar: spec(obj({
    workloadSelector, ingress: list(sidecarListener), egress: list(sidecarListener),
    outboundTrafficPolicy: obj({ mode: enumOf('REGISTRY_ONLY', 'ALLOW_ANY'), egressProxy: destination }),
    inboundConnectionPool: connectionPool,
  })),
  PeerAuthentication: spec(obj({ selector, mtls: obj({ mode: mtlsMode }), portLevelMtls: map(obj({ mode: mtlsMode })) }), false),
  AuthorizationPolicy: spec(obj({
    selector, targetRef, targetRefs: list(targetRef),
    action: enumOf('ALLOW', 'DENY', 'AUDIT', 'CUSTOM'),
    provider: obj({ name: str() }),
    rules: list(obj({
      from: list(obj({
        source: obj({
          principals: strings, notPrincipals: strings, requestPrincipals: strings, notRequestPrincipals: strings,
          namespaces: strings, notNamespaces: strings, ipBlocks: strings, notIpBlocks: strings, remoteIpBlocks: strings, notRemoteIpBlocks: strings,
        }),
      })),
      to: list(obj({ operation: obj({ hosts: strings, notHosts: strings, ports: strings, notPorts: strings, methods: strings, notMethods: strings, paths: strings, notPaths: strings }) })),
      when: list(obj({ key: str(), values: strings, notValues: strings }, { required: ['key'] })),
    })),
  }), false),
  RequestAuthentication: spec(obj({
    selector, targetRef, targetRefs: list(targetRef),
    jwtRules: list(obj({
      issuer: str(), audiences: strings, jwksUri: str(), jwks: str(), fromHeaders: list(obj({ name: str(), prefix: str() }, { required: ['name'] })),
      fromParams: strings, fromCookies: strings, outputPayloadToHeader: str(), forwardOriginalToken: bool,
      outputClaimToHeaders: list(obj({ header: str(), claim: str() }, { required: ['header', 'claim'] })), timeout: duration,
    }, { required: ['issuer'] })),
  }), false),
  Service: obj({
    ...envelope,
    spec: obj({
      ports: list(obj({ name: str(), port, targetPort: intOrString, protocol: enumOf('TCP', 'UDP', 'SCTP'), appProtocol: str(), nodePort: int() }, { required: ['port'], open: true })),
      selector: labels, clusterIP: str(), clusterIPs: strings, type: str(),
    }, { open: true }),
  }, { open: true }),
  EndpointSlice: obj({
    ...envelope,
    addressType: enumOf('IPv4', 'IPv6', 'FQDN'),
    endpoints: list(obj({
      addresses: list(str(), 1), conditions: obj({ ready: bool, serving: bool, terminating: bool }),
      targetRef: obj({}, { open: true }), nodeName: str(), zone: str(), hostname: str(),
    }, { required: ['addresses'], open: true })),
    ports: list(obj({ name: str(), port: int(0, 65535), protocol: str(), appProtocol: str() }, { open: true })),
  }, { open: true, required: ['addressType'] }),
  Pod: obj({ ...envelope, spec: obj({ serviceAccountName: str() }, { open: true }), status: obj({ podIP: str(), phase: str() }, { open: true }) }, { open: true }),
  Namespace: obj({ ...envelope }, { open: true }),
  Secret: obj({ ...envelope, type: str(), data: labels, stringData: labels }, { open: true }),
  ServiceAccount: obj({ ...envelope }, { open: true }),
  Ingress: obj({ ...envelope, spec: obj({ ingressClassName: str() }, { open: true }) }, { open: true }),
};
