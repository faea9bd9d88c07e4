/** EnvoyFilter patches applied to generated resources: YAML in, patched Envoy JSON out. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkEnvoyFilterValue, ExtensionTypeUrl, formatNodeId, TypeUrl, type EnvoyJson } from '@tsmesh/xds';
import { formatIssue, parseConfigYaml, validateConfig } from '@tsmesh/mesh-config';
import { PushContext } from '../../model/push-context';
import { completeProxy, proxyFromNode } from '../../model/proxy';
import { generate, type Generated } from '../generate';
import { resourceJson } from '../envoy-json';

const base = readFileSync(fileURLToPath(new URL('../../../testdata/golden/base.yaml', import.meta.url)), 'utf8');
const CALLME = { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.20', podName: 'callme-service-v1-0', namespace: 'default' }) };
const CALLER = { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' }) };
const GATEWAY = { id: formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' }) };

function pushWith(yaml: string): { push: PushContext; issues: string[] } {
  const p = parseConfigYaml(`${base}\n---\n${yaml}`, 'test.yaml');
  expect(p.issues.map(formatIssue)).toEqual([]);
  const v = validateConfig(p.resources, { checkEnvoyFilterValue });
  return { push: new PushContext(v.accepted, 't'), issues: v.issues.map(formatIssue) };
}

function gen(yaml: string, node = CALLME): Generated {
  const { push, issues } = pushWith(yaml);
  expect(issues).toEqual([]);
  return generate(push, completeProxy(proxyFromNode(node as never), push));
}

const json = (g: Generated, t: keyof Generated['resources'], name: string): EnvoyJson => {
  const r = g.resources[t].find((x) => x.name === name);
  if (!r) throw new Error(`no ${t} ${name}`);
  return resourceJson(r) as EnvoyJson;
};
const names = (g: Generated, t: keyof Generated['resources']) => g.resources[t].map((r) => r.name);
const ef = (name: string, spec: string, ns = 'default') => `apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`;

const headerMutation = (key: string) => `{name: tsmesh.sample.header, typed_config: {"@type": ${ExtensionTypeUrl.HeaderMutation}, mutations: {response_mutations: [{append: {header: {key: ${key}, value: "1"}}}]}}}`;

describe('EnvoyFilter: HTTP filters', () => {
  const insert = ef('add-header', `  workloadSelector: {labels: {app: callme-service}}
  configPatches:
    - applyTo: HTTP_FILTER
      match:
        context: SIDECAR_INBOUND
        listener: {portNumber: 8091, filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.filters.http.router}}}}
      patch: {operation: INSERT_BEFORE, value: ${headerMutation('x-patched')}}
`);

  it('INSERT_BEFORE the router on the inbound chains of the selected workload only', () => {
    const g = gen(insert);
    const inbound = json(g, TypeUrl.Listener, 'virtualInbound');
    const chains = (inbound.filter_chains as EnvoyJson[]).filter((c) => (c.filter_chain_match as { destination_port?: { value: number } }).destination_port?.value === 8091);
    expect(chains).toHaveLength(2);
    for (const c of chains) {
      const hcm = (c.filters as EnvoyJson[])[0].typed_config as { http_filters: { name: string }[] };
      expect(hcm.http_filters.map((f) => f.name)).toEqual(['tsmesh.sample.header', 'envoy.filters.http.router']);
    }
    expect(g.envoyFilters).toMatchObject({ filters: ['default/add-header'], applied: [{ patch: 0, changed: 2 }], unmatched: [] });
    // outbound listeners untouched (same encoded objects as without the filter)
    const plain = gen('');
    expect(g.versions[TypeUrl.Cluster]).toBe(plain.versions[TypeUrl.Cluster]);
    expect(json(g, TypeUrl.Listener, '0.0.0.0_8091')).toEqual(json(plain, TypeUrl.Listener, '0.0.0.0_8091'));
    expect(g.versions[TypeUrl.Listener]).not.toBe(plain.versions[TypeUrl.Listener]);
    // another workload is not selected
    const caller = gen(insert, CALLER);
    expect(caller.envoyFilters).toBeUndefined();
  });

  it('REMOVE and REPLACE a named filter, INSERT_FIRST and INSERT_AFTER', () => {
    const g = gen(ef('ops', `  configPatches:
    - applyTo: HTTP_FILTER
      match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 8091, filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}}
      patch: {operation: INSERT_FIRST, value: ${headerMutation('x-first')}}
    - applyTo: HTTP_FILTER
      match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 8091, filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: tsmesh.sample.header}}}}}
      patch: {operation: INSERT_AFTER, value: {name: envoy.filters.http.fault, typed_config: {"@type": ${ExtensionTypeUrl.HttpFault}}}}
    - applyTo: HTTP_FILTER
      match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 8091, filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: tsmesh.sample.header}}}}}
      patch: {operation: REPLACE, value: {name: tsmesh.sample.replaced, typed_config: {"@type": ${ExtensionTypeUrl.HeaderMutation}}}}
    - applyTo: HTTP_FILTER
      match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 8090, filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.filters.http.fault}}}}}
      patch: {operation: REMOVE}
    - applyTo: HTTP_FILTER
      match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 8090, filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: no.such.filter}}}}}
      patch: {operation: REMOVE}
`));
    const filters = (l: string) => (((json(g, TypeUrl.Listener, l).filter_chains as EnvoyJson[])[0].filters as EnvoyJson[])[0].typed_config as { http_filters: { name: string }[] }).http_filters.map((f) => f.name);
    // generated: [cors, fault, router]; INSERT_FIRST, then INSERT_AFTER it, then REPLACE it
    expect(filters('0.0.0.0_8091')).toEqual(['tsmesh.sample.replaced', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    expect(filters('0.0.0.0_8090')).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.router']);
    expect(g.envoyFilters!.applied.map((a) => a.changed)).toEqual([1, 1, 1, 1, 0]);
    expect(g.envoyFilters!.unmatched).toEqual(['EnvoyFilter default/ops: configPatches[4] (REMOVE HTTP_FILTER) matched nothing']);
  });

  it('MERGE into a filter\'s typed_config of the same type', () => {
    const g = gen(ef('merge-hcm', `  configPatches:
    - applyTo: NETWORK_FILTER
      match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 8091, filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}}
      patch: {operation: MERGE, value: {typed_config: {"@type": ${ExtensionTypeUrl.HttpConnectionManager}, stream_idle_timeout: 7s, xffNumTrustedHops: 2}}}
`));
    const hcm = ((json(g, TypeUrl.Listener, '0.0.0.0_8091').filter_chains as EnvoyJson[])[0].filters as EnvoyJson[])[0].typed_config as EnvoyJson;
    expect(hcm).toMatchObject({ stream_idle_timeout: { seconds: '7' }, xff_num_trusted_hops: 2, rds: { route_config_name: '8091' } });
  });
});

describe('EnvoyFilter: listeners and filter chains', () => {
  it('ADD, MERGE and REMOVE listeners; REMOVE a filter chain; INSERT_FIRST a network filter', () => {
    const g = gen(ef('listeners', `  configPatches:
    - applyTo: LISTENER
      match: {context: SIDECAR_OUTBOUND}
      patch:
        operation: ADD
        value:
          name: extra_9999
          address: {socket_address: {address: 0.0.0.0, port_value: 9999}}
          filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: {"@type": ${ExtensionTypeUrl.TcpProxy}, stat_prefix: extra, cluster: BlackHoleCluster}}]}]
    - applyTo: LISTENER
      match: {listener: {name: 0.0.0.0_8080}}
      patch: {operation: REMOVE}
    - applyTo: LISTENER
      match: {listener: {portNumber: 8090}}
      patch: {operation: MERGE, value: {perConnectionBufferLimitBytes: 32768}}
    - applyTo: FILTER_CHAIN
      match: {context: SIDECAR_INBOUND, listener: {portNumber: 8091, filterChain: {transportProtocol: tls}}}
      patch: {operation: REMOVE}
    - applyTo: NETWORK_FILTER
      match: {context: SIDECAR_INBOUND, listener: {portNumber: 8091}}
      patch: {operation: INSERT_FIRST, value: {name: envoy.filters.network.rbac, typed_config: {"@type": ${ExtensionTypeUrl.NetworkRbac}, stat_prefix: ef}}}
`));
    expect(names(g, TypeUrl.Listener)).toContain('extra_9999');
    expect(names(g, TypeUrl.Listener)).not.toContain('0.0.0.0_8080');
    expect(json(g, TypeUrl.Listener, '0.0.0.0_8090').per_connection_buffer_limit_bytes).toEqual({ value: 32768 });
    const inbound = json(g, TypeUrl.Listener, 'virtualInbound').filter_chains as EnvoyJson[];
    const c8091 = inbound.filter(c => (c.filter_chain_match as { destination_port?: { value: number } }).destination_port?.value === 8091);
    expect(c8091.map((c) => c.name)).toEqual(['inbound_8091_plaintext']);
    expect((c8091[0].filters as EnvoyJson[]).map((f) => f.name)).toEqual(['envoy.filters.network.rbac', 'envoy.filters.network.http_connection_manager']);
    // the catch-all chain has no destination port: not matched by portNumber 8091
    expect((inbound.find((c) => c.name === 'virtualInbound-catchall')!.filters as EnvoyJson[]).map((f) => f.name)).toEqual(['envoy.filters.network.tcp_proxy']);
  });

  it('GATEWAY patches apply to gateways only (here: their clusters)', () => {
    const yaml = ef('gw', `  configPatches:
    - applyTo: CLUSTER
      match: {context: GATEWAY}
      patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: 1024}}
`, 'istio-system');
    const gw = gen(yaml, GATEWAY);
    expect(gw.resources[TypeUrl.Cluster].length).toBeGreaterThan(0);
    for (const r of gw.resources[TypeUrl.Cluster]) expect((resourceJson(r) as EnvoyJson).per_connection_buffer_limit_bytes).toEqual({ value: 1024 });
    const sidecar = gen(yaml, CALLME);
    expect(sidecar.envoyFilters!.applied[0].changed).toBe(0);
  });
});

describe('EnvoyFilter: routes', () => {
  it('INSERT_FIRST and INSERT_BEFORE routes, MERGE a virtual host, ADD and REMOVE virtual hosts, MERGE the route table, on RDS and inline tables', () => {
    const g = gen(ef('routes', `  configPatches:
    - applyTo: HTTP_ROUTE
      match: {context: SIDECAR_OUTBOUND, routeConfiguration: {portNumber: 8091, vhost: {name: "callme-service.default.svc.cluster.local:8091"}}}
      patch: {operation: INSERT_FIRST, value: {name: health, match: {path: /healthz}, direct_response: {status: 200}}}
    - applyTo: HTTP_ROUTE
      match: {context: SIDECAR_OUTBOUND, routeConfiguration: {portNumber: 8091, vhost: {route: {name: health}}}}
      patch: {operation: INSERT_AFTER, value: {name: teapot, match: {path: /teapot}, direct_response: {status: 418}}}
    - applyTo: VIRTUAL_HOST
      match: {context: SIDECAR_OUTBOUND, routeConfiguration: {portNumber: 8091, vhost: {domainName: callme-service}}}
      patch: {operation: MERGE, value: {request_headers_to_add: [{header: {key: x-vhost, value: "1"}}]}}
    - applyTo: VIRTUAL_HOST
      match: {context: SIDECAR_OUTBOUND, routeConfiguration: {name: "8080"}}
      patch: {operation: ADD, value: {name: extra, domains: [extra.example], routes: [{match: {prefix: /}, direct_response: {status: 204}}]}}
    - applyTo: VIRTUAL_HOST
      match: {context: SIDECAR_OUTBOUND, routeConfiguration: {name: "8090", vhost: {name: allow_any}}}
      patch: {operation: REMOVE}
    - applyTo: ROUTE_CONFIGURATION
      match: {context: SIDECAR_INBOUND, routeConfiguration: {portNumber: 8091}}
      patch: {operation: MERGE, value: {response_headers_to_remove: [x-internal]}}
`));
    const rc = json(g, TypeUrl.RouteConfiguration, '8091');
    const vh = (rc.virtual_hosts as EnvoyJson[]).find((v) => v.name === 'callme-service.default.svc.cluster.local:8091')!;
    expect((vh.routes as EnvoyJson[]).map((r) => r.name).slice(0, 2)).toEqual(['health', 'teapot']);
    expect(vh.request_headers_to_add).toEqual([{ header: { key: 'x-vhost', value: '1' } }]);
    expect((json(g, TypeUrl.RouteConfiguration, '8080').virtual_hosts as EnvoyJson[]).map((v) => v.name)).toContain('extra');
    expect((json(g, TypeUrl.RouteConfiguration, '8090').virtual_hosts as EnvoyJson[]).map((v) => v.name)).not.toContain('allow_any');
    const inbound = (json(g, TypeUrl.Listener, 'virtualInbound').filter_chains as EnvoyJson[]).filter((c) => String(c.name).startsWith('inbound_8091'));
    for (const c of inbound) expect((((c.filters as EnvoyJson[])[0].typed_config as EnvoyJson).route_config as EnvoyJson).response_headers_to_remove).toEqual(['x-internal']);
    expect(g.envoyFilters!.unmatched).toEqual([]);
  });
});

describe('EnvoyFilter: clusters', () => {
  it('MERGE by service and port, ADD a STATIC cluster, REMOVE by name', () => {
    const g = gen(ef('clusters', `  configPatches:
    - applyTo: CLUSTER
      match: {context: SIDECAR_OUTBOUND, cluster: {service: callme-service.default.svc.cluster.local, portNumber: 8091}}
      patch: {operation: MERGE, value: {connect_timeout: 0.25s, circuit_breakers: {thresholds: [{max_connections: 7}]}}}
    - applyTo: CLUSTER
      patch:
        operation: ADD
        value:
          name: extra-static
          type: STATIC
          connect_timeout: 1s
          load_assignment: {cluster_name: extra-static, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9000}}}}]}]}
    - applyTo: CLUSTER
      match: {cluster: {name: "outbound|8080||todolist.default.svc.cluster.local"}}
      patch: {operation: REMOVE}
`));
    const c = json(g, TypeUrl.Cluster, 'outbound|8091||callme-service.default.svc.cluster.local');
    expect(c.connect_timeout).toEqual({ nanos: 250_000_000 });
    expect((c.circuit_breakers as { thresholds: EnvoyJson[] }).thresholds.at(-1)).toMatchObject({ max_connections: { value: 7 } });
    expect(names(g, TypeUrl.Cluster)).toContain('extra-static');
    expect(names(g, TypeUrl.Cluster)).not.toContain('outbound|8080||todolist.default.svc.cluster.local');
    // inbound clusters are SIDECAR_INBOUND: the MERGE did not touch them
    expect(json(g, TypeUrl.Cluster, 'inbound|8091||').connect_timeout).not.toEqual({ nanos: 250_000_000 });
  });
});

describe('EnvoyFilter: order, caching, refusals', () => {
  it('applies by priority, root namespace first at equal priority', () => {
    const patch = (v: number) => `  configPatches:
    - applyTo: LISTENER
      match: {listener: {name: 0.0.0.0_8090}}
      patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: ${v}}}
`;
    const g = gen([
      ef('late', `  priority: 10\n${patch(3)}`),
      ef('local', patch(2)),
      ef('root', patch(1), 'istio-system'),
    ].join('---\n'));
    expect(g.envoyFilters!.filters).toEqual(['istio-system/root', 'default/local', 'default/late']);
    expect(json(g, TypeUrl.Listener, '0.0.0.0_8090').per_connection_buffer_limit_bytes).toEqual({ value: 3 });
  });

  it('is memoized per generated output and EnvoyFilter set', () => {
    const { push } = pushWith(ef('m', `  configPatches:
    - applyTo: LISTENER
      match: {listener: {name: 0.0.0.0_8090}}
      patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: 5}}
`));
    const a = generate(push, completeProxy(proxyFromNode(CALLME as never), push));
    const b = generate(push, completeProxy(proxyFromNode(CALLME as never), push));
    expect(b).toBe(a);
    expect(a.envoyFilters).toBeDefined();
    // another workload of the same namespace shares the unpatched outbound part, not the patched result
    const c = generate(push, completeProxy(proxyFromNode(CALLER as never), push));
    expect(c).not.toBe(a);
  });

  it('a patched result that would be inconsistent is not used, and says why', () => {
    const g = gen(ef('dangling', `  configPatches:
    - applyTo: LISTENER
      patch:
        operation: ADD
        value:
          name: dangling
          address: {socket_address: {address: 0.0.0.0, port_value: 9998}}
          filter_chains: [{filters: [{name: envoy.filters.network.http_connection_manager, typed_config: {"@type": ${ExtensionTypeUrl.HttpConnectionManager}, stat_prefix: d, rds: {route_config_name: nope, config_source: {ads: {}}}, http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": ${ExtensionTypeUrl.Router}}}]}}]}]
`));
    expect(names(g, TypeUrl.Listener)).not.toContain('dangling');
    expect(g.envoyFilters!.error).toBe('EnvoyFilters default/dangling not applied: listener dangling uses route configuration "nope", which does not exist');
  });

  it('refuses what cannot be applied, naming the EnvoyFilter, the patch and the reason', () => {
    const { push, issues } = pushWith([
      ef('lua', `  configPatches:
    - applyTo: HTTP_FILTER
      match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.filters.http.router}}}}}
      patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.http.rbac, typed_config: {"@type": ${ExtensionTypeUrl.NetworkRbac}}}}
`),
      ef('typo', `  configPatches:
    - applyTo: CLUSTER
      patch: {operation: MERGE, value: {conectTimeout: 1s}}
`),
      ef('boot', `  configPatches:
    - applyTo: BOOTSTRAP
      patch: {operation: MERGE, value: {}}
`),
      ef('eds', `  configPatches:
    - applyTo: CLUSTER
      patch: {operation: ADD, value: {name: x, type: EDS}}
`),
      ef('route-add', `  configPatches:
    - applyTo: HTTP_ROUTE
      patch: {operation: ADD, value: {name: r}}
`),
    ].join('---\n'));
    expect(issues).toEqual([
      expect.stringMatching(/^test.yaml:\d+: EnvoyFilter default\/lua: spec.configPatches\[0\].patch.value.typed_config.@type: the proxy has no HTTP filter type.googleapis.com\/envoy.extensions.filters.network.rbac.v3.RBAC and would reject the listener/),
      expect.stringMatching(/EnvoyFilter default\/typo: spec.configPatches\[0\].patch.value.conectTimeout: unknown field of envoy.config.cluster.v3.Cluster$/),
      expect.stringMatching(/EnvoyFilter default\/boot: spec.configPatches\[0\].applyTo: BOOTSTRAP is not supported: tsmesh's proxy builds its bootstrap from its flags/),
      expect.stringMatching(/EnvoyFilter default\/eds: spec.configPatches\[0\].patch.value: ADD of an EDS cluster/),
      expect.stringMatching(/EnvoyFilter default\/route-add: spec.configPatches\[0\].patch.operation: ADD is not an operation on HTTP_ROUTE \(valid: MERGE, REMOVE, INSERT_BEFORE, INSERT_AFTER, INSERT_FIRST\)$/),
    ]);
    expect(push.envoyFilters).toEqual([]);
  });
});
