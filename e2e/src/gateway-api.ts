/** The Gateway API flavour of the seeds (infra/k8s/gateway-api) and helpers of its scenarios. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const DIR = join('infra', 'k8s', 'gateway-api');

/** The YAML of infra/k8s/gateway-api, in its kustomization's resources order. */
export function gatewayApiSamples(): string {
  const k = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return k.resources.map((f) => readFileSync(join(DIR, f), 'utf8')).join('\n---\n');
}

/** The documents of the samples whose kind is in `kinds` (e.g. to delete one route). */
export function gatewayApiSample(kind: string, name: string): string {
  const docs = gatewayApiSamples().split(/^---$/m).filter((d) => new RegExp(`^kind: ${kind}$`, 'm').test(d) && new RegExp(`^  name: ${name}$`, 'm').test(d));
  if (!docs.length) throw new Error(`no ${kind} ${name} in ${DIR}`);
  return docs.join('\n---\n');
}

/** The automatically deployed Gateway of the samples: its name, namespace and the labels of its pods. */
export const SAMPLE_GATEWAY = { namespace: 'default', name: 'todolist-gateway', service: 'todolist-gateway-istio', labels: { 'gateway.networking.k8s.io/gateway-name': 'todolist-gateway' } };

/** Sum of the `istio_requests_total` series in Prometheus text whose labels include every one of `labels`. */
export function requestsTotal(text: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('istio_requests_total{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

/** The layer-4 Gateway of the TLS passthrough / TCP scenario: its name and deployed Service. */
export const L4_GATEWAY = { namespace: 'default', name: 'edge-l4', service: 'edge-l4-istio', sni: 'istio-sidecar-injector.istio-system.svc' };

/**
 * A Gateway (automated deployment) with a TLS Passthrough listener on 443 for the injector's host
 * name and a TCP listener on 9000; a TLSRoute passing TLS through to the injector's webhook Service
 * in istio-system (a TLS server with a certificate of its own, which the client must see) by a
 * ReferenceGrant there; a TCPRoute to todolist-v1.
 */
export function gatewayApiL4Samples(): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${L4_GATEWAY.name}, namespace: ${L4_GATEWAY.namespace}}
spec:
  gatewayClassName: istio
  listeners:
    - {name: tls, port: 443, protocol: TLS, hostname: ${L4_GATEWAY.sni}, tls: {mode: Passthrough}, allowedRoutes: {namespaces: {from: Same}}}
    - {name: tcp, port: 9000, protocol: TCP, allowedRoutes: {namespaces: {from: Same}}}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: default-tlsroutes-to-injector, namespace: istio-system}
spec:
  from: [{group: gateway.networking.k8s.io, kind: TLSRoute, namespace: default}]
  to: [{group: "", kind: Service, name: istio-sidecar-injector}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: injector-passthrough, namespace: default}
spec:
  parentRefs: [{name: ${L4_GATEWAY.name}, sectionName: tls}]
  hostnames: [${L4_GATEWAY.sni}]
  rules: [{backendRefs: [{name: istio-sidecar-injector, namespace: istio-system, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: todolist-tcp, namespace: default}
spec:
  parentRefs: [{name: ${L4_GATEWAY.name}, sectionName: tcp}]
  rules: [{backendRefs: [{name: todolist-v1, port: 8000}]}]
`;
}
