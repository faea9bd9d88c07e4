/** Test helpers for the Gateway API translation: accepted resources, conversion, the ingress gateway's generated config. */
import { expect } from 'vitest';
import { formatNodeId } from '@tsmesh/xds';
import { parseConfigYaml, validateConfig, formatIssue, type ConfigResource } from '@tsmesh/mesh-config';
import { convertGatewayApi } from '../src/model/gateway-api';
import { PushContext } from '../src/model/push-context';
import { completeProxy, proxyFromNode } from '../src/model/proxy';
import { generate } from '../src/xds/generate';
import { dumpResources } from '../src/xds/envoy-json';

/** The ingress gateway's Service (`istio: ingressgateway`, port 80 → 8080), a YAML document. */
export const INGRESS_SERVICE = `apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080}]
`;

/** The node of the ingress gateway's pod (router mode). */
export const INGRESS_NODE = { id: formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' }) };

/** Parses and validates `yaml`, expecting no parse issue and no validation error; the accepted resources. */
export function accepted(yaml: string): ConfigResource[] {
  const p = parseConfigYaml(yaml, 't.yaml');
  expect(p.issues.map(formatIssue)).toEqual([]);
  const v = validateConfig(p.resources);
  expect(v.issues.filter((i) => i.severity === 'error').map(formatIssue)).toEqual([]);
  return v.accepted;
}

/** The Istio resources the Gateway API resources of `yaml` convert to. */
export function convert(yaml: string): ReturnType<typeof convertGatewayApi> {
  const all = accepted(yaml);
  return convertGatewayApi((k) => all.filter((r) => r.kind === k), 'cluster.local');
}

/** The ingress gateway's generated config for the accepted resources, in Envoy's JSON shape, by type (LDS, RDS, …). */
export function ingressConfig(resources: ConfigResource[]): Record<string, unknown[]> {
  const push = new PushContext(resources, 't');
  const proxy = completeProxy(proxyFromNode(INGRESS_NODE as never), push);
  return dumpResources(generate(push, proxy).resources) as Record<string, unknown[]>;
}
