/**
 * Proxies share one snapshot only when their generated config is equal by construction: equal
 * scope (kind, namespace, Sidecar, the labels VirtualServices match on), equal inbound inputs
 * (workload ports, the policies selecting it) and equal EnvoyFilter inputs (the filters selecting
 * it, the node metadata they match on). A proxy differing in any one of them gets a snapshot of
 * its own, and the resources that differ are its own.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatNodeId, SnapshotPool, TypeUrl, type ResourceTypeUrl, type Snapshot } from '@tsmesh/xds';
import { parseConfigYaml, validateConfig } from '@tsmesh/mesh-config';
import { PushContext } from '../../model/push-context';
import { completeProxy, proxyFromNode } from '../../model/proxy';
import { generate, PushGeneration, XdsCache } from '../generate';

const dir = fileURLToPath(new URL('../../../testdata/golden/', import.meta.url));

const pod = (name: string, ns: string, ip: string, labels: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {${labels}}}
spec: {serviceAccountName: caller-service, containers: [{name: app, image: caller}]}
status: {podIP: ${ip}, phase: Running}
---
`;

const EXTRA = `${pod('caller-b', 'default', '10.244.0.31', 'app: caller-service, version: v1, security.istio.io/tlsMode: istio')}${pod('caller-locked', 'default', '10.244.0.32', 'app: caller-service, version: v1, tier: locked, security.istio.io/tlsMode: istio')}${pod('caller-v2', 'default', '10.244.0.33', 'app: caller-service, version: v2, security.istio.io/tlsMode: istio')}${pod('caller-other', 'other', '10.244.0.34', 'app: caller-service, version: v1, security.istio.io/tlsMode: istio')}apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: locked, namespace: default}
spec:
  selector: {matchLabels: {tier: locked}}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: callme-by-source, namespace: default}
spec:
  hosts: [callme-service]
  http:
    - match: [{sourceLabels: {version: v2}}]
      route: [{destination: {host: callme-service}, weight: 100}]
      timeout: 3s
    - route: [{destination: {host: callme-service}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: only-1-99, namespace: istio-system}
spec:
  configPatches:
    - applyTo: CLUSTER
      match: {context: SIDECAR_OUTBOUND, proxy: {proxyVersion: '^1\\.99.*'}, cluster: {name: PassthroughCluster}}
      patch: {operation: MERGE, value: {connect_timeout: 7s}}
`;

function setup() {
  const text = readFileSync(dir + 'base.yaml', 'utf8') + '\n---\n' + EXTRA;
  const v = validateConfig(parseConfigYaml(text, 'base.yaml').resources);
  expect(v.issues.filter((i) => i.severity === 'error')).toEqual([]);
  const push = new PushContext(v.accepted, '1');
  const g = new PushGeneration(push, new XdsCache());
  const pool = new SnapshotPool();
  const of = (type: 'sidecar' | 'router', podName: string, namespace: string, ip: string, metadata?: Record<string, string>): Snapshot => {
    const node = {
      id: formatNodeId({ type, ip, podName, namespace }),
      metadata: metadata ? { fields: Object.fromEntries(Object.entries(metadata).map(([k, x]) => [k, { kind: 'stringValue', stringValue: x }])) } : undefined,
    };
    const gen = generate(g, completeProxy(proxyFromNode(node as never), push));
    return pool.snapshot(gen.versions, gen.resources);
  };
  return { of, pool };
}

/** The types whose resources differ between two snapshots. */
const differing = (a: Snapshot, b: Snapshot): string[] => ([TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Secret] as ResourceTypeUrl[])
  .filter((t) => a.version(t) !== b.version(t))
  .map((t) => t.slice(t.lastIndexOf('.') + 1));

describe('snapshot sharing between proxies', () => {
  it('gives two replicas with equal inputs the very same snapshot object', () => {
    const { of, pool } = setup();
    const a = of('sidecar', 'caller-service-0', 'default', '10.244.0.30');
    const b = of('sidecar', 'caller-b', 'default', '10.244.0.31');
    expect(b).toBe(a);
    expect(pool.size.snapshots).toBe(1);
  });

  it('gives a proxy differing in one input a snapshot of its own, differing where that input is read', () => {
    const { of } = setup();
    const base = of('sidecar', 'caller-service-0', 'default', '10.244.0.30');
    const cases: [string, Snapshot, string[]][] = [
      // labels a policy selects on: its inbound listener
      ['AuthorizationPolicy selecting its labels', of('sidecar', 'caller-locked', 'default', '10.244.0.32'), ['Listener']],
      // labels a VirtualService matches on (sourceLabels): its route table
      ['VirtualService sourceLabels', of('sidecar', 'caller-v2', 'default', '10.244.0.33'), ['RouteConfiguration']],
      // namespace: short host names of its route table
      ['namespace', of('sidecar', 'caller-other', 'other', '10.244.0.34'), ['RouteConfiguration']],
      // proxy kind
      ['router kind', of('router', 'caller-service-0', 'default', '10.244.0.30'), ['Listener', 'RouteConfiguration']],
      // node metadata an EnvoyFilter matches on
      ['ISTIO_VERSION matched by an EnvoyFilter', of('sidecar', 'caller-b', 'default', '10.244.0.31', { ISTIO_VERSION: '1.99.0' }), ['Cluster']],
    ];
    for (const [what, snap, types] of cases) {
      expect(snap, what).not.toBe(base);
      expect(differing(base, snap), what).toEqual(expect.arrayContaining(types));
    }
    // Metadata no EnvoyFilter matches on changes nothing.
    expect(of('sidecar', 'caller-b', 'default', '10.244.0.31', { ISTIO_VERSION: '1.20.0' })).toBe(base);
  });
});
