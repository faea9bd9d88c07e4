import { describe, expect, it } from 'vitest';
import { parseConfigYaml } from '@tsmesh/mesh-config';
import { PushContext } from './push-context';
import { numTrustedProxies, parseMeshConfig } from './mesh-config';
import type { Proxy } from './proxy';

const gatewayPod = (annotation?: string) => parseConfigYaml(`apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-0
  namespace: istio-system
  labels: {istio: ingressgateway}
${annotation ? `  annotations: {proxy.istio.io/config: '${annotation}'}\n` : ''}spec: {containers: [{name: istio-proxy, image: proxy}]}
status: {podIP: 10.244.0.2, phase: Running}
`, 'pod.yaml').resources;

const gateway = (metadata: Record<string, unknown> = {}): Proxy => ({ id: 'router~10.244.0.2~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local', kind: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system', labels: { istio: 'ingressgateway' }, metadata });

describe('gatewayTopology.numTrustedProxies', () => {
  const meshConfig = parseMeshConfig('defaultConfig:\n  gatewayTopology:\n    numTrustedProxies: 1\n', 'mesh.yaml');

  it('node metadata PROXY_CONFIG over the Pod annotation proxy.istio.io/config over the mesh default, else 0', () => {
    expect(numTrustedProxies(new PushContext(gatewayPod(), 't'), gateway())).toBe(0);
    expect(numTrustedProxies(new PushContext(gatewayPod(), 't', { meshConfig }), gateway())).toBe(1);
    const annotated = new PushContext(gatewayPod('{"gatewayTopology": {"numTrustedProxies": 2}}'), 't', { meshConfig });
    expect(numTrustedProxies(annotated, gateway())).toBe(2);
    expect(numTrustedProxies(annotated, gateway({ PROXY_CONFIG: { gatewayTopology: { numTrustedProxies: 3 } } }))).toBe(3);
    // A malformed annotation is ignored, as Istio ignores it.
    expect(numTrustedProxies(new PushContext(gatewayPod('{not yaml: ['), 't', { meshConfig }), gateway())).toBe(1);
  });

  it('reads the istio ConfigMap form and refuses a bad value naming the field', () => {
    expect(parseMeshConfig('kind: ConfigMap\ndata:\n  mesh: |\n    defaultConfig: {gatewayTopology: {numTrustedProxies: 4}}\n', 'cm.yaml').defaultConfig?.gatewayTopology?.numTrustedProxies).toBe(4);
    expect(() => parseMeshConfig('defaultConfig: {gatewayTopology: {numTrustedProxies: -1}}\n', 'bad.yaml')).toThrow(/bad\.yaml: defaultConfig\.gatewayTopology\.numTrustedProxies: -1 is not a non-negative integer/);
  });
});
