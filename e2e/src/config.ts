/** Istio config the scenarios apply, as plain YAML (what a user would `kubectl apply`). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

/** The todolist VirtualService on the gateway with the given v1/v2 weights (caller routes kept). */
export function todolistCanary(v1: number, v2: number): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: todolist
  namespace: default
spec:
  hosts: ["*"]
  gateways: [tsmesh-gateway]
  http:
    - name: caller
      match:
        - uri:
            prefix: /caller/
      route:
        - destination:
            host: caller-service
            subset: v1
            port:
              number: 8090
    - name: todolist-canary
      route:
        - destination:
            host: todolist
            subset: v1
            port:
              number: 8000
          weight: ${v1}
        - destination:
            host: todolist
            subset: v2
            port:
              number: 8000
          weight: ${v2}
`;
}

/** PeerAuthentication for the whole `default` namespace. */
export function peerAuthentication(mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE'): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: ${mode}
`;
}

/** callme's VirtualService: v1/v2 weights (or every endpoint, with `v1` and `v2` 0), optional fault injection, retries. */
export function callmeRouting(o: { v1: number; v2: number; delayPct?: number; abortPct?: number; retries?: boolean }): string {
  const fault = o.delayPct || o.abortPct
    ? `      fault:
${o.delayPct ? `        delay:
          fixedDelay: 5s
          percentage:
            value: ${o.delayPct}
` : ''}${o.abortPct ? `        abort:
          httpStatus: 500
          percentage:
            value: ${o.abortPct}
` : ''}`
    : '';
  const retries = o.retries
    ? `      retries:
        attempts: 3
        perTryTimeout: 2s
        retryOn: connect-failure,refused-stream,reset,5xx
`
    : '';
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: callme-service
  namespace: default
spec:
  hosts:
    - callme-service
  http:
    - name: split
${fault}      route:
${o.v1 === 0 && o.v2 === 0 ? `        - destination:
            host: callme-service
` : `        - destination:
            host: callme-service
            subset: v1
          weight: ${o.v1}
        - destination:
            host: callme-service
            subset: v2
          weight: ${o.v2}
`}      timeout: 10s
${retries}`;
}

/** callme's DestinationRule with outlier detection ejecting an endpoint after one 5xx. */
export function callmeOutlierDetection(o: { connectTimeout?: string } = {}): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: callme-service
  namespace: default
spec:
  host: callme-service
  trafficPolicy:
${o.connectTimeout ? `    connectionPool:
      tcp:
        connectTimeout: ${o.connectTimeout}
` : ''}    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
  subsets:
    - name: v1
      labels:
        version: v1
    - name: v2
      labels:
        version: v2
`;
}

/** An AuthorizationPolicy on callme. */
export function callmeAuthz(name: string, action: 'ALLOW' | 'DENY', rule: string): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: default
spec:
  selector:
    matchLabels:
      app: callme-service
  action: ${action}
  rules:
${rule}`;
}

/** An AuthorizationPolicy on the ingress gateway (istio-system, `istio: ingressgateway`), as a user writes it. */
export function gatewayAuthz(name: string, action: 'ALLOW' | 'DENY', rules: string): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: ${action}
  rules:
${rules}`;
}

/**
 * The callme v2 Deployment exactly as infra/k8s ships it, with its container's `VERSION` set to
 * `version` (a new pod template, so a rollout) and the RollingUpdate strategy `maxSurge` /
 * `maxUnavailable`, and `minReadySeconds` (the time a mesh needs to tell every client about a new
 * endpoint before an old one goes: Istio's advice for rollouts without errors).
 */
export function callmeV2Rollout(version: string, maxSurge: number | string = 1, maxUnavailable: number | string = 0, minReadySeconds = 3): string {
  const file = fileURLToPath(new URL('../../infra/k8s/base/samples/callme.yaml', import.meta.url));
  const dep = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> })
    .find((o) => o.kind === 'Deployment' && o.metadata?.name === 'callme-service-v2');
  if (!dep?.spec) throw new Error(`${file}: no Deployment callme-service-v2`);
  dep.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } };
  dep.spec.minReadySeconds = minReadySeconds;
  const containers = (dep.spec.template as { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } }).spec.containers;
  const env = containers.find((c) => c.name === 'callme-service')?.env;
  const v = env?.find((e) => e.name === 'VERSION');
  if (!v) throw new Error(`${file}: callme-service-v2 has no VERSION env`);
  v.value = version;
  return stringify(dep);
}
