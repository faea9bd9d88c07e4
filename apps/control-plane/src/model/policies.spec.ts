import { describe, expect, it } from 'vitest';
import { formatIssue, parseConfigYaml, validateConfig } from '@tsmesh/mesh-config';
import { PushContext } from './push-context';

const policy = (name: string, target: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: default}
spec:
${target}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
`;

describe('which workloads a policy applies to', () => {
  const v = validateConfig(parseConfigYaml([
    policy('by-gateway', '  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: shop-gw}]'),
    policy('by-service', '  targetRef: {group: "", kind: Service, name: shop}'),
    policy('by-selector', '  selector: {matchLabels: {app: shop}}'),
    policy('namespace-wide', ''),
  ].join('---\n'), 'p.yaml').resources);
  const push = new PushContext(v.accepted, 't');
  const names = (ns: string, labels: Record<string, string>) => push.policiesFor(push.authorizationPolicies, ns, labels).map((p) => p.name).sort();

  it('targetRefs to a Gateway: only that Gateway\'s workloads, never the whole namespace', () => {
    expect(names('default', { 'gateway.networking.k8s.io/gateway-name': 'shop-gw' })).toEqual(['by-gateway', 'namespace-wide']);
    expect(names('default', { 'istio.io/gateway-name': 'shop-gw' })).toEqual(['by-gateway', 'namespace-wide']);
    expect(names('default', { app: 'shop' })).toEqual(['by-selector', 'namespace-wide']);
    expect(names('default', { 'gateway.networking.k8s.io/gateway-name': 'other' })).toEqual(['namespace-wide']);
    expect(names('prod', { 'gateway.networking.k8s.io/gateway-name': 'shop-gw' })).toEqual([]);
  });

  it('a Service target (a waypoint\'s) applies to no sidecar, and says so', () => {
    expect(v.issues.map(formatIssue)).toEqual([expect.stringMatching(/^warning: p\.yaml:\d+: AuthorizationPolicy default\/by-service: spec\.targetRef: a Service target is served by a waypoint/)]);
  });
});
