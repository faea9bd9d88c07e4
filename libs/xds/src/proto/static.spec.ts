import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { DECODE_OPTIONS, decodeMessage, encodeTrusted, enumZeroValues, messageCodec, unpack } from './codec';
import { adsCodec } from './ads-service';
import { envoyRoot, reflectionLoaded } from './registry';
import { staticMessage } from './static';
import generated from './generated/envoy.js';
import { ExtensionTypeUrl, TypeUrl } from '../type-urls';

// Runs in its own process (one fork per spec file): the first test sees a fresh module state.
describe('generated Envoy message code', () => {
  it('decodes a discovery response and the resources inside it without loading the reflection root', () => {
    const hcm = encodeTrusted(ExtensionTypeUrl.HttpConnectionManager, { stat_prefix: 'in', rds: { route_config_name: 'r80', config_source: { ads: {} } } });
    const lst = encodeTrusted(TypeUrl.Listener, {
      name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { type_url: ExtensionTypeUrl.HttpConnectionManager, value: hcm } }] }],
    });
    const res = adsCodec.encodeResponse({ version_info: '3', resources: [{ type_url: TypeUrl.Listener, value: lst }], type_url: TypeUrl.Listener, nonce: 'n1' });
    const back = adsCodec.decodeResponse(res);
    expect(back.version_info).toBe('3');
    const l = unpack<{ name: string; address: { socket_address: { port_value: number } }; filter_chains: { filters: { typed_config: { type_url: string; value: Uint8Array } }[] }[] }>(back.resources[0]);
    expect(l.name).toBe('l');
    expect(l.address.socket_address.port_value).toBe(15006);
    const inner = unpack<{ stat_prefix: string; rds: { route_config_name: string }; codec_type: string }>(l.filter_chains[0].filters[0].typed_config);
    expect(inner.rds.route_config_name).toBe('r80');
    expect(inner.codec_type).toBe('AUTO'); // enum default, as a name
    expect(reflectionLoaded()).toBe(false);
  });

  it('defines each namespace and message on first access, not at import', () => {
    const own = (at: unknown, name: string) => Object.getOwnPropertyDescriptor(at, name)!;
    // nothing here has touched the header_mutation types yet: a getter, no class
    const ns = (generated as Record<string, Record<string, Record<string, Record<string, Record<string, Record<string, unknown>>>>>>).envoy.extensions.filters.http;
    expect(typeof own(ns, 'header_mutation').get).toBe('function');
    const perRoute = staticMessage('envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute');
    expect(typeof perRoute?.decode).toBe('function');
    // the getter replaced itself with the value
    expect(own(ns, 'header_mutation').get).toBeUndefined();
    expect(own(own(ns, 'header_mutation').value.v3, 'HeaderMutationPerRoute').value).toBe(perRoute);
    expect(Object.keys(ns)).toContain('header_mutation');
  });

  it('gives the zero value of singular enum fields', () => {
    const z = enumZeroValues(TypeUrl.Cluster);
    expect(z.get('lb_policy')).toBe('ROUND_ROBIN');
    expect(z.get('dns_lookup_family')).toBe('AUTO');
    expect(z.has('name')).toBe(false); // a string field
    expect(z.has('per_connection_buffer_limit_bytes')).toBe(false); // a message field
    expect(reflectionLoaded()).toBe(false);
  });

  it('decodes what reflection decodes, field for field', () => {
    const samples: [string, object][] = [
      [TypeUrl.Cluster, {
        name: 'outbound|80||a.default.svc.cluster.local', type: 'EDS', lb_policy: 'LEAST_REQUEST', connect_timeout: { seconds: 1, nanos: 5e8 },
        eds_cluster_config: { eds_config: { ads: {} }, service_name: 'a' },
        circuit_breakers: { thresholds: [{ priority: 'HIGH', max_connections: { value: 7 } }] },
        outlier_detection: { consecutive_5xx: { value: 3 }, interval: { seconds: 10 } },
        metadata: { filter_metadata: { istio: { fields: { services: { listValue: { values: [{ stringValue: 'a' }] } } } } } },
      }],
      [TypeUrl.ClusterLoadAssignment, { cluster_name: 'c', endpoints: [{ locality: { region: 'r', zone: 'z' }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8080 } } }, health_status: 'HEALTHY', load_balancing_weight: { value: 3 } }] }] }],
      [TypeUrl.RouteConfiguration, { name: '80', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', headers: [{ name: 'x', string_match: { exact: 'y' } }] }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 80 } }, { name: 'b', weight: { value: 20 } }] }, timeout: { seconds: 0 }, retry_policy: { retry_on: '5xx', num_retries: { value: 2 } } } }] }] }],
      [ExtensionTypeUrl.HttpRbac, { rules: { action: 'DENY', policies: { p: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { exact: 'spiffe://td/ns/a/sa/b' } } }] } } } }],
    ];
    for (const [url, msg] of samples) {
      const bytes = encodeTrusted(url, msg);
      const t = envoyRoot().lookupType(url.slice(url.lastIndexOf('/') + 1));
      expect(Buffer.from(bytes)).toEqual(Buffer.from(t.encode(t.fromObject(msg)).finish()));
      expect(decodeMessage(url, bytes)).toEqual(t.toObject(t.decode(bytes), DECODE_OPTIONS));
    }
  });

  it('falls back to reflection for a type outside the generated set, and fails for an unknown one', () => {
    expect(staticMessage('validate.FieldRules')).toBeUndefined(); // options-only: not generated
    const codec = messageCodec('validate.FieldRules');
    expect(codec.toObject(codec.decode(codec.encode(codec.fromObject({ message: { required: true } })).finish()))).toEqual({ message: { required: true } });
    expect(staticMessage('envoy.config.cluster.v3.NoSuchThing')).toBeUndefined();
    expect(() => messageCodec('type.googleapis.com/envoy.config.cluster.v3.NoSuchThing')).toThrow(/NoSuchThing/);
  });
});

describe('decoded strings', () => {
  // V8's own view of a string: a rope (cons string) or flat
  setFlagsFromString('--allow-natives-syntax');
  const isFlat = new Function('s', 'return %StringIsFlat(s)') as (s: string) => boolean;

  it('are flat at every length, not ropes of 8-character pieces', () => {
    const rope = ['outbound', '|8080||s', 'vc-12.be'].reduce((a, b) => a + b, '');
    expect(isFlat(rope)).toBe(false); // the probe tells a rope
    for (const name of ['a', 'outbound|8080||svc-12.bench-3.svc.cluster.local', `x${'y'.repeat(200)}`, 'naïve-ünïcode-名前-cluster']) {
      const back = decodeMessage<{ name: string; eds_cluster_config: { service_name: string } }>(TypeUrl.Cluster, encodeTrusted(TypeUrl.Cluster, { name, eds_cluster_config: { service_name: name } }));
      expect(back.name).toBe(name);
      expect(isFlat(back.name), name).toBe(true);
      expect(isFlat(back.eds_cluster_config.service_name), name).toBe(true);
    }
  });

  it('are still refused when they are not UTF-8', () => {
    // Cluster.name (field 1, length-delimited) holding a lone continuation byte and an overlong form
    for (const bad of [[0x61, 0x80, 0x62], [0xc0, 0xaf]]) {
      expect(() => decodeMessage(TypeUrl.Cluster, Uint8Array.from([0x0a, bad.length, ...bad]))).toThrow(/encoded data was not valid|utf-?8/i);
    }
  });
});
