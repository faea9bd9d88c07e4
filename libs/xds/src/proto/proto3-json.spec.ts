import { describe, expect, it } from 'vitest';
import { encodeMessage, messageCodec } from './codec';
import { durationJson, messageToProto3Json, timestampJson, toProto3Json } from './proto3-json';
import { ExtensionTypeUrl, TypeUrl } from '../type-urls';

describe('proto3 canonical JSON (Envoy config_dump form)', () => {
  it('prints durations, wrappers, enums, Anys and Structs as Envoy does', () => {
    const bytes = encodeMessage(TypeUrl.Cluster, {
      name: 'outbound|80||a.default.svc.cluster.local',
      type: 'EDS',
      lb_policy: 'LEAST_REQUEST',
      connect_timeout: { seconds: 10, nanos: 0 },
      dns_refresh_rate: { seconds: 1, nanos: 500_000_000 },
      per_connection_buffer_limit_bytes: { value: 32768 },
      respect_dns_ttl: false,
      circuit_breakers: { thresholds: [{ max_connections: { value: 4294967295 }, max_retries: { value: 0 } }] },
      common_lb_config: { healthy_panic_threshold: { value: 0 } },
      metadata: { filter_metadata: { istio: { fields: { services: { listValue: { values: [{ structValue: { fields: { host: { stringValue: 'a.default.svc.cluster.local' }, port: { numberValue: 80 } } } }] } }, n: { nullValue: 'NULL_VALUE' }, ok: { boolValue: true } } } } },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          type_url: ExtensionTypeUrl.HttpProtocolOptions,
          value: encodeMessage(ExtensionTypeUrl.HttpProtocolOptions, { common_http_protocol_options: { idle_timeout: { seconds: 3600 } }, explicit_http_config: { http2_protocol_options: { max_concurrent_streams: { value: 100 } } } }),
        },
      },
    });
    expect(toProto3Json(TypeUrl.Cluster, bytes)).toEqual({
      name: 'outbound|80||a.default.svc.cluster.local',
      type: 'EDS',
      lb_policy: 'LEAST_REQUEST',
      connect_timeout: '10s',
      dns_refresh_rate: '1.500s',
      per_connection_buffer_limit_bytes: 32768,
      circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_retries: 0 }] },
      // envoy.type.v3.Percent is a message of its own, not a wrapper
      common_lb_config: { healthy_panic_threshold: {} },
      metadata: { filter_metadata: { istio: { services: [{ host: 'a.default.svc.cluster.local', port: 80 }], n: null, ok: true } } },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': ExtensionTypeUrl.HttpProtocolOptions,
          common_http_protocol_options: { idle_timeout: '3600s' },
          explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
        },
      },
    });
  });

  it('leaves the field-name form of every other toObject caller alone', () => {
    const codec = messageCodec(TypeUrl.Cluster);
    toProto3Json(TypeUrl.Cluster, encodeMessage(TypeUrl.Cluster, { name: 'x', connect_timeout: { seconds: 1 } }));
    const plain = codec.toObject(codec.decode(encodeMessage(TypeUrl.Cluster, { name: 'x', connect_timeout: { seconds: 2 } })), { longs: String }) as Record<string, unknown>;
    expect(plain.connect_timeout).toEqual({ seconds: '2' });
  });

  it('converts an already decoded message the same way', () => {
    expect(messageToProto3Json(TypeUrl.RouteConfiguration, { name: 'r', validate_clusters: { value: false }, virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: { seconds: 0, nanos: 250_000_000 } } }] }] }))
      .toEqual({ name: 'r', validate_clusters: false, virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: '0.250s' } }] }] });
  });

  it('formats durations and timestamps with 0, 3, 6 or 9 fractional digits', () => {
    expect(durationJson({ seconds: '0' })).toBe('0s');
    expect(durationJson({ seconds: '3', nanos: 1000 })).toBe('3.000001s');
    expect(durationJson({ seconds: '-1', nanos: -500_000_000 })).toBe('-1.500s');
    expect(durationJson({ seconds: '0', nanos: -1 })).toBe('-0.000000001s');
    expect(timestampJson({ seconds: '1700000000', nanos: 120_000_000 })).toBe('2023-11-14T22:13:20.120Z');
  });
});
