/**
 * Shared test fixtures (import `@tsmesh/mesh-config/testing`; not part of the library's runtime
 * API): Gateway API resources that give every status condition and reason tsmesh writes, and
 * the status each one must get — used by mesh-config's status computation tests and by the
 * control plane's status-file tests, so both check the same cases.
 */

/** Resources: a Gateway with good, conflicting, unresolved and unsupported listeners, and a route per route-parent reason. */
export const GATEWAY_API_STATUS_YAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {clusterIP: 10.96.0.41, selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: gw-istio, namespace: infra}
spec: {clusterIP: 10.96.0.40, selector: {gateway.networking.k8s.io/gateway-name: gw}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: infra}
type: kubernetes.io/tls
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: apps}
type: kubernetes.io/tls
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
    - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
    - {name: dup, port: 80, protocol: HTTP, hostname: "*.example.com"}
    - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
    - {name: missing, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: nope}]}}
    - {name: cross, port: 9443, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: apps}]}}
    - {name: udp, port: 9000, protocol: UDP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: not-allowed, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: https}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-host, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
  hostnames: [shop.example.org]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: refs, namespace: infra}
spec:
  parentRefs: [{name: gw}, {name: absent}]
  rules: [{backendRefs: [{name: web, namespace: apps, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing-backend, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: http}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: gone, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: unsupported, namespace: apps}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules: [{filters: [{type: ExtensionRef, extensionRef: {group: example.net, kind: Mangler, name: m}}], backendRefs: [{name: web, port: 80}]}]
`;

/** `Type=Status/Reason` of the Gateway's conditions. */
export const EXPECTED_GATEWAY_CONDITIONS = 'Accepted=True/Accepted Programmed=True/Programmed';

/** The Gateway's address (its Service's cluster IP). */
export const EXPECTED_GATEWAY_ADDRESSES = [{ type: 'IPAddress', value: '10.96.0.40' }];

/** `listener:attachedRoutes`: good, missing-backend and refs attach to http; refs (the Gateway's namespace, no hostnames) to every HTTP/HTTPS listener, never to UDP. */
export const EXPECTED_ATTACHED_ROUTES = ['http:3', 'dup:1', 'https:1', 'missing:1', 'cross:1', 'udp:0'];

/** `Status/Reason` of one condition type of a listener. */
export const EXPECTED_LISTENER_CONDITIONS: readonly [listener: string, type: string, statusReason: string][] = [
  ['http', 'Conflicted', 'False/NoConflicts'],
  ['dup', 'Conflicted', 'True/HostnameConflict'],
  ['https', 'ResolvedRefs', 'True/ResolvedRefs'],
  ['missing', 'ResolvedRefs', 'False/InvalidCertificateRef'],
  ['cross', 'ResolvedRefs', 'False/RefNotPermitted'],
  ['udp', 'Accepted', 'False/UnsupportedProtocol'],
];

/** `Type=Status/Reason ...` of each route parent, by `HTTPRoute/<ns>/<name>#<parent index>`. */
export const EXPECTED_ROUTE_PARENTS: Readonly<Record<string, string>> = {
  'HTTPRoute/apps/good#0': 'Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs',
  'HTTPRoute/apps/not-allowed#0': 'Accepted=False/NotAllowedByListeners ResolvedRefs=True/ResolvedRefs',
  'HTTPRoute/apps/wrong-host#0': 'Accepted=False/NoMatchingListenerHostname ResolvedRefs=True/ResolvedRefs',
  'HTTPRoute/infra/refs#0': 'Accepted=True/Accepted ResolvedRefs=False/RefNotPermitted',
  'HTTPRoute/infra/refs#1': 'Accepted=False/NoMatchingParent ResolvedRefs=False/RefNotPermitted',
  'HTTPRoute/apps/missing-backend#0': 'Accepted=True/Accepted ResolvedRefs=False/BackendNotFound',
  'HTTPRoute/apps/unsupported#0': 'Accepted=True/Accepted ResolvedRefs=False/UnsupportedValue',
};

/** The fixture with the BackendNotFound and RefNotPermitted causes fixed (the backend exists, a ReferenceGrant permits infra → apps). */
export const GATEWAY_API_STATUS_FIXED_YAML = `${GATEWAY_API_STATUS_YAML.replace('{name: gone, port: 80}', '{name: web, port: 80}')}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-infra, namespace: apps}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}]
  to: [{group: "", kind: Service}]
`;
