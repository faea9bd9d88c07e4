/**
 * The cross-push cache never serves stale config: after each change of a sequence, what a proxy
 * gets through the cache (evicted by dependency only) is byte-for-byte what a fresh generation
 * gives; and a change re-encodes only the families it touched.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatNodeId, TypeUrl, type ResourceTypeUrl } from '@tsmesh/xds';
import { parseConfigYaml, validateConfig, type ConfigResource } from '@tsmesh/mesh-config';
import { PushContext } from '../../model/push-context';
import { completeProxy, proxyFromNode } from '../../model/proxy';
import { generate, PushGeneration, XdsCache, type Generated } from '../generate';
import { touchedDependencies } from './invalidation';

const dir = fileURLToPath(new URL('../../../testdata/golden/', import.meta.url));

/** Documents by resource key; a step edits this map. */
function docsOf(...files: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of files) {
    for (const doc of readFileSync(dir + f, 'utf8').split(/^---$/m)) {
      const p = parseConfigYaml(doc, f);
      for (const r of p.resources) m.set(r.key, doc);
    }
  }
  return m;
}

const parsed = new Map<string, ConfigResource[]>();
/** Resources of the documents; an unchanged document gives the same objects (as a store does). */
function resourcesOf(docs: Map<string, string>): ConfigResource[] {
  return [...docs.entries()].flatMap(([k, d]) => {
    let r = parsed.get(d);
    if (!r) parsed.set(d, (r = parseConfigYaml(d, k).resources));
    return r;
  });
}

const NODES = [
  { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' }) },
  { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.20', podName: 'callme-service-v1-0', namespace: 'default' }) },
  { id: formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' }) },
];

const bytesOf = (g: Generated) => Object.fromEntries((Object.keys(g.resources) as ResourceTypeUrl[]).map((t) => [t, g.resources[t].map((r) => `${r.name}=${Buffer.from(r.any.value).toString('base64')}`)]));

const edit = (docs: Map<string, string>, key: string, from: string | RegExp, to: string) => {
  const d = docs.get(key);
  if (!d) throw new Error(`no document ${key}`);
  const next = d.replace(from, to);
  if (next === d) throw new Error(`edit of ${key} changed nothing`);
  docs.set(key, next);
  return true;
};

const STEPS: { name: string; apply(d: Map<string, string>): void }[] = [
  { name: 'VirtualService weights', apply: (d) => edit(d, 'VirtualService/default/callme-service-route', 'weight: 20', 'weight: 30') && edit(d, 'VirtualService/default/callme-service-route', 'weight: 80', 'weight: 70') },
  { name: 'DestinationRule traffic policy', apply: (d) => edit(d, 'DestinationRule/default/callme-service-destination', 'maxConnections: 100', 'maxConnections: 7') },
  { name: 'DestinationRule subset labels', apply: (d) => edit(d, 'DestinationRule/default/callme-service-destination', '{name: v2, labels: {version: v2}}', '{name: v2, labels: {version: v1}}') },
  { name: 'endpoint removed', apply: (d) => edit(d, 'EndpointSlice/default/callme-service-abcde', /\n {2}- addresses: \[10\.244\.0\.21\][^\n]*\n[^\n]*\n[^\n]*/, '') },
  { name: 'pod labels', apply: (d) => edit(d, 'Pod/default/callme-service-v1-0', 'version: v1', 'version: v3') },
  { name: 'delegate VirtualService routes', apply: (d) => edit(d, 'VirtualService/default/todolist-api', 'prefix: /api/v2', 'prefix: /api/v3') },
  { name: 'VirtualService deleted', apply: (d) => d.delete('VirtualService/default/callme-service-route') },
  { name: 'DestinationRule deleted', apply: (d) => d.delete('DestinationRule/default/callme-service-destination') },
  { name: 'Service port', apply: (d) => edit(d, 'Service/default/callme-service', 'port: 8091, targetPort', 'port: 8092, targetPort') },
];

/** Changes of what a gateway's listeners and route tables are built from (cached across pushes by GatewayKey). */
const GATEWAY_STEPS: typeof STEPS = [
  { name: 'gateway VirtualService route', apply: (d) => edit(d, 'VirtualService/default/todolist', '- destination: {host: todolist}', '- destination: {host: callme-service}') },
  { name: 'gateway server port', apply: (d) => edit(d, 'Gateway/default/todolist-gateway', '{number: 80, name: http, protocol: HTTP}', '{number: 8081, name: http, protocol: HTTP}') },
  { name: 'VirtualService bound to the gateway added', apply: (d) => { d.set('VirtualService/default/extra', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: extra, namespace: default}\nspec:\n  hosts: [extra.example.com]\n  gateways: [todolist-gateway]\n  http: [{route: [{destination: {host: todolist}}]}]\n'); } },
  { name: 'gateway policy rule', apply: (d) => edit(d, 'AuthorizationPolicy/istio-system/deny-version', '[/api/version]', '[/api/other]') },
  { name: 'gateway policy deleted', apply: (d) => d.delete('AuthorizationPolicy/istio-system/audit-todos') },
  { name: 'gateway trusted issuer', apply: (d) => edit(d, 'RequestAuthentication/istio-system/gateway-jwt', 'issuer: https://issuer.example.com', 'issuer: https://other.example.com') },
  { name: 'routed Service port', apply: (d) => edit(d, 'Service/default/callme-service', 'port: 8091, targetPort', 'port: 8093, targetPort') },
  { name: 'gateway VirtualService deleted', apply: (d) => d.delete('VirtualService/default/extra') },
];

describe('XdsCache invalidation', () => {
  it('serves exactly what a fresh generation gives after every change of a sequence', () => {
    sequence(docsOf('base.yaml', 'callme-split-fault.yaml', 'delegate-virtualservice.yaml'), STEPS);
  });

  it('serves a gateway exactly what a fresh generation gives after every change of its inputs', () => {
    sequence(docsOf('base.yaml', 'gateway-authz.yaml'), GATEWAY_STEPS, (stats) => expect(stats.Gateway?.hits ?? 0).toBeGreaterThan(0));
  });

  function sequence(docs: Map<string, string>, steps: typeof STEPS, check?: (stats: ReturnType<XdsCache['statistics']>) => void) {
    const cache = new XdsCache();
    let before = new Map<string, ConfigResource>();
    let prevDocs = new Map<string, string>();
    let previous: PushContext | undefined;
    for (const step of [{ name: 'initial', apply() {} }, { name: 'unchanged', apply() {} }, ...steps]) {
      step.apply(docs);
      const resources = resourcesOf(docs);
      const after = new Map(resources.map((r) => [r.key, r]));
      const changed = [...new Set([...docs.keys(), ...prevDocs.keys()])].filter((k) => docs.get(k) !== prevDocs.get(k));
      const accepted = validateConfig(resources).accepted;
      // Incremental push context (indexes of unchanged kinds taken over) against a full rebuild.
      const push = PushContext.next(previous, accepted, step.name);
      const full = new PushContext(accepted, step.name);
      if (previous && step.name === 'VirtualService weights') expect(push.reusedFrom(previous)).toEqual(expect.arrayContaining(['registry', 'destinationRules']));
      if (previous && step.name === 'endpoint removed') expect(push.reusedFrom(previous)).toEqual(expect.arrayContaining(['virtualServices', 'destinationRules']));
      const touched = touchedDependencies({ keys: changed, before, after, previous, current: push });
      if (touched === 'all') cache.clearAll();
      else cache.clear(touched);
      const cached = new PushGeneration(push, cache);
      for (const node of NODES) {
        const fresh = generate(new PushGeneration(full, new XdsCache()), completeProxy(proxyFromNode(node as never), full));
        expect(bytesOf(generate(cached, completeProxy(proxyFromNode(node as never), push))), `${step.name}: ${node.id}`).toEqual(bytesOf(fresh));
      }
      cache.sweep();
      before = after;
      prevDocs = new Map(docs);
      previous = push;
    }
    check?.(cache.statistics());
  }

  it('an endpoint-only change re-encodes no route, listener or cluster of unrelated services, and changes only EDS for the client', () => {
    const docs = docsOf('base.yaml', 'callme-split-fault.yaml', 'delegate-virtualservice.yaml');
    const cache = new XdsCache();
    const caller = NODES[0];
    const gen = (resources: ConfigResource[], v: string) => {
      const push = new PushContext(validateConfig(resources).accepted, v);
      return { push, g: generate(new PushGeneration(push, cache), completeProxy(proxyFromNode(caller as never), push)) };
    };
    const r0 = resourcesOf(docs);
    const first = gen(r0, '1');
    cache.sweep();
    // Another endpoint for callme-service v2, same pod identity as the existing v2 endpoint.
    edit(docs, 'EndpointSlice/default/callme-service-abcde', 'targetRef: {kind: Pod, name: callme-service-v2-0, namespace: default}', 'targetRef: {kind: Pod, name: callme-service-v2-0, namespace: default}\n  - addresses: [10.244.0.99]\n    conditions: {ready: true}\n    targetRef: {kind: Pod, name: callme-service-v2-0, namespace: default}');
    const r1 = resourcesOf(docs);
    const before = new Map(r0.map((r) => [r.key, r]));
    const after = new Map(r1.map((r) => [r.key, r]));
    const push1 = new PushContext(validateConfig(r1).accepted, '2');
    const touched = touchedDependencies({ keys: ['EndpointSlice/default/callme-service-abcde'], before, after, previous: first.push, current: push1 });
    expect(touched).not.toBe('all');
    cache.clear(touched as Set<string>);
    const statsBefore = cache.statistics();
    const second = generate(new PushGeneration(push1, cache), completeProxy(proxyFromNode(caller as never), push1));
    const stats = cache.statistics();
    expect(stats.VirtualHost.misses - statsBefore.VirtualHost.misses).toBe(0);
    expect(stats.Listener.misses - statsBefore.Listener.misses).toBe(0);
    // Only callme-service's three clusters (default, v1, v2) are rebuilt.
    expect(stats.Cluster.misses - statsBefore.Cluster.misses).toBe(3);
    const changedTypes = (Object.keys(second.versions) as ResourceTypeUrl[]).filter((t) => second.versions[t] !== first.g.versions[t]);
    expect(changedTypes).toEqual([TypeUrl.ClusterLoadAssignment]);
  });

  it('a pod without a sidecar joining a service changes only EDS: the auto-mTLS clusters and the encoded CDS are byte-for-byte the same', () => {
    const docs = docsOf('base.yaml');
    const caller = NODES[0];
    const gen = (v: string) => {
      const push = new PushContext(validateConfig(resourcesOf(docs)).accepted, v);
      return generate(new PushGeneration(push, new XdsCache()), completeProxy(proxyFromNode(caller as never), push));
    };
    const first = gen('1');
    // A plain pod (no sidecar, same service account) backing callme-service.
    docs.set('Pod/default/callme-plain-0', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: callme-plain-0\n  namespace: default\n  labels: {app: callme-service, version: v1}\nspec: {serviceAccountName: callme-service, containers: [{name: app, image: callme}]}\nstatus: {podIP: 10.244.0.98, phase: Running}\n');
    edit(docs, 'EndpointSlice/default/callme-service-abcde', 'targetRef: {kind: Pod, name: callme-service-v2-0, namespace: default}', 'targetRef: {kind: Pod, name: callme-service-v2-0, namespace: default}\n  - addresses: [10.244.0.98]\n    conditions: {ready: true}\n    targetRef: {kind: Pod, name: callme-plain-0, namespace: default}');
    const second = gen('2');
    const changedTypes = (Object.keys(second.versions) as ResourceTypeUrl[]).filter((t) => second.versions[t] !== first.versions[t]);
    expect(changedTypes).toEqual([TypeUrl.ClusterLoadAssignment]);
    expect(bytesOf(second)[TypeUrl.Cluster]).toEqual(bytesOf(first)[TypeUrl.Cluster]);
    // The load assignment tells the sidecar endpoints from the plain one.
    const cla = second.resources[TypeUrl.ClusterLoadAssignment].find((r) => r.name === 'outbound|8091||callme-service.default.svc.cluster.local')!.message as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } }; metadata?: unknown }[] }[] };
    const modes = Object.fromEntries(cla.endpoints.flatMap((l) => l.lb_endpoints).map((e) => [e.endpoint.address.socket_address.address, JSON.stringify(e.metadata ?? null)]));
    expect(modes['10.244.0.98']).toBe('null');
    expect(modes['10.244.0.20']).toContain('"tlsMode":{"stringValue":"istio"}');
    expect(modes['10.244.0.21']).toContain('"tlsMode":{"stringValue":"istio"}');
    // The cluster carries both sockets whatever its endpoints run.
    const c = second.resources[TypeUrl.Cluster].find((r) => r.name === 'outbound|8091||callme-service.default.svc.cluster.local')!.message as { transport_socket?: unknown; transport_socket_matches?: { name: string }[] };
    expect(c.transport_socket).toBeUndefined();
    expect(c.transport_socket_matches?.map((m) => m.name)).toEqual(['tlsMode-istio', 'tlsMode-disabled']);
  });
});
