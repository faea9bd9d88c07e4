import { describe, expect, it } from 'vitest';
import { decodeToEnvoyJson, EnvoyJsonError, fromEnvoyJson, packEnvoyJson } from './json';
import { mergeEnvoyJson } from './merge';
import { checkEnvoyFilterValue } from './envoyfilter-value';
import { encodeMessage } from '../proto/codec';
import { ExtensionTypeUrl } from '../type-urls';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const HTTP_FILTER = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter';

describe('proto3 JSON → Envoy messages', () => {
  it('takes camelCase and field names, durations, wrappers and Any, and round-trips through the codec', () => {
    const v = fromEnvoyJson(CLUSTER, {
      name: 'x', connectTimeout: '1.5s', per_connection_buffer_limit_bytes: 1024, type: 'STATIC',
      typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': ExtensionTypeUrl.HttpProtocolOptions, explicitHttpConfig: { http2ProtocolOptions: {} } } },
    });
    expect(v.connect_timeout).toEqual({ seconds: '1', nanos: 500_000_000 });
    expect(v.per_connection_buffer_limit_bytes).toEqual({ value: 1024 });
    const bytes = encodeMessage(CLUSTER, packEnvoyJson(v) as object);
    const back = decodeToEnvoyJson(CLUSTER, bytes);
    expect(back).toMatchObject({ name: 'x', type: 'STATIC', connect_timeout: { seconds: '1', nanos: 500_000_000 }, per_connection_buffer_limit_bytes: { value: 1024 } });
    expect((back.typed_extension_protocol_options as Record<string, Record<string, unknown>>)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']['@type']).toBe(ExtensionTypeUrl.HttpProtocolOptions);
  });

  it('names the field of an unknown key, a bad enum, a bad duration and an unregistered type', () => {
    const err = (v: unknown) => {
      try {
        fromEnvoyJson(CLUSTER, v);
      } catch (e) {
        expect(e).toBeInstanceOf(EnvoyJsonError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ name: 'x', conectTimeout: '1s' })).toBe('conectTimeout: unknown field of envoy.config.cluster.v3.Cluster');
    expect(err({ type: 'NOPE' })).toMatch(/^type: "NOPE" is not a DiscoveryType value/);
    expect(err({ connect_timeout: '5 seconds' })).toBe('connect_timeout: "5 seconds" is not a duration (e.g. "1.5s")');
    expect(err({ transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua' } } }))
      .toBe('transport_socket.typed_config.@type: type "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua" is not known to tsmesh, so no tsmesh proxy runs it (its .proto is not in ENVOY_PROTO_FILES, libs/xds/src/proto/registry.ts)');
    expect(err({ name: 'x', eds_cluster_config: {}, type: 'EDS', cluster_type: { name: 'y' } })).toMatch(/^cluster_type: only one of/);
  });
});

describe('merge', () => {
  it('merges messages, appends lists, replaces scalars and clears the other members of a oneof', () => {
    const dst = fromEnvoyJson('envoy.config.route.v3.Route', { name: 'r', match: { prefix: '/' }, route: { cluster: 'a', timeout: '1s' }, request_headers_to_remove: ['x'] });
    const src = fromEnvoyJson('envoy.config.route.v3.Route', { match: { path: '/exact' }, route: { timeout: '3s' }, request_headers_to_remove: ['y'] });
    const m = mergeEnvoyJson('envoy.config.route.v3.Route', dst, src);
    expect(m.match).toEqual({ path: '/exact' });
    expect(m.route).toEqual({ cluster: 'a', timeout: { seconds: '3', nanos: 0 } });
    expect(m.request_headers_to_remove).toEqual(['x', 'y']);
    expect(dst.match).toEqual({ prefix: '/' });
  });

  it('merges inside an Any of the same type and replaces one of another type', () => {
    const f = (v: object) => fromEnvoyJson(HTTP_FILTER, v);
    const dst = f({ name: 'envoy.filters.http.fault', typed_config: { '@type': ExtensionTypeUrl.HttpFault, max_active_faults: 3, abort: { http_status: 503, percentage: { numerator: 1 } } } });
    const same = mergeEnvoyJson(HTTP_FILTER, dst, f({ typed_config: { '@type': ExtensionTypeUrl.HttpFault, max_active_faults: 5 } }));
    expect(same.typed_config).toMatchObject({ '@type': ExtensionTypeUrl.HttpFault, max_active_faults: { value: 5 }, abort: { http_status: 503 } });
    const other = mergeEnvoyJson(HTTP_FILTER, dst, f({ typed_config: { '@type': ExtensionTypeUrl.Router } }));
    expect(other.typed_config).toEqual({ '@type': ExtensionTypeUrl.Router });
  });
});

describe('checkEnvoyFilterValue', () => {
  it('accepts a filter the proxy runs', () => {
    expect(checkEnvoyFilterValue('HTTP_FILTER', 'INSERT_BEFORE', { name: 'h', typed_config: { '@type': ExtensionTypeUrl.HeaderMutation, mutations: { request_mutations: [{ append: { header: { key: 'x-a', value: '1' } } }] } } })).toEqual([]);
  });

  it('reports a registered filter type the proxy does not implement, as an error (or a warning when optional)', () => {
    const buffer = { '@type': `type.googleapis.com/envoy.extensions.filters.http.router.v3.Router` };
    expect(checkEnvoyFilterValue('HTTP_FILTER', 'INSERT_BEFORE', { name: 'r', typed_config: buffer })).toEqual([]);
    const cors = { name: 'cors', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC' } };
    const [p] = checkEnvoyFilterValue('HTTP_FILTER', 'INSERT_BEFORE', cors);
    expect(p.path).toBe('typed_config.@type');
    expect(p.reason).toMatch(/^the proxy has no HTTP filter type.googleapis.com\/envoy.extensions.filters.network.rbac.v3.RBAC and would reject the listener/);
    expect(checkEnvoyFilterValue('HTTP_FILTER', 'INSERT_BEFORE', { ...cors, is_optional: true })[0].severity).toBe('warning');
  });

  it('walks the filters inside a whole listener and names the listener filters the proxy lacks', () => {
    const problems = checkEnvoyFilterValue('LISTENER', 'ADD', {
      name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 9 } },
      listener_filters: [{ name: 'envoy.filters.listener.proxy_protocol' }],
      filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': ExtensionTypeUrl.TcpProxy, stat_prefix: 's', cluster: 'c' } }, { name: 'x', typed_config: { '@type': ExtensionTypeUrl.HttpFault } }] }],
    });
    expect(problems.map((p) => p.path)).toEqual(['listener_filters[0].name', 'filter_chains[0].filters[1].typed_config.@type']);
  });

  it('reports a value that does not fit the message, with its path', () => {
    expect(checkEnvoyFilterValue('CLUSTER', 'MERGE', { circuitBreakers: { thresholds: [{ maxConnections: 'many' }] } })).toEqual([
      { path: 'circuitBreakers.thresholds[0].maxConnections', reason: 'expected an integer, got string "many"' },
    ]);
  });
});
