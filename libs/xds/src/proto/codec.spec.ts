import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, pack, unpack } from './codec';
import { ExtensionTypeUrl, TypeUrl } from '../type-urls';
import { cluster } from '../builders/cluster';

describe('Envoy message codec', () => {
  it('round-trips a Cluster through its wire encoding', () => {
    const c = cluster({ name: 'outbound|80||a.default.svc.cluster.local', lbPolicy: 'LEAST_REQUEST', connectTimeoutMs: 1500 });
    const back = decodeMessage<{ name: string; lb_policy: string; type: string; connect_timeout: { seconds: string; nanos: number } }>(TypeUrl.Cluster, encodeMessage(TypeUrl.Cluster, c));
    expect(back.name).toBe('outbound|80||a.default.svc.cluster.local');
    expect(back.lb_policy).toBe('LEAST_REQUEST');
    expect(back.type).toBe('EDS');
    expect(back.connect_timeout).toEqual({ seconds: '1', nanos: 500_000_000 });
  });

  it('packs nested extensions into Any with the right type URL', () => {
    const any = pack(ExtensionTypeUrl.Router, {});
    expect(any.type_url).toBe('type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');
    const hcm = pack(ExtensionTypeUrl.HttpConnectionManager, { stat_prefix: 's', rds: { route_config_name: 'r', config_source: { ads: {} } } });
    expect(unpack<{ rds: { route_config_name: string } }>(hcm).rds.route_config_name).toBe('r');
  });

  it('names an unknown field with its path instead of dropping it', () => {
    expect(() => encodeMessage(TypeUrl.Cluster, { name: 'c', lb_polciy: 'RANDOM' })).toThrow(/envoy\.config\.cluster\.v3\.Cluster: unknown field "lb_polciy"/);
    expect(() => encodeMessage(TypeUrl.Listener, { name: 'l', address: { socket_address: { adress: 'x' } } })).toThrow(/Listener\.address\.socket_address: unknown field "adress"/);
  });

  it('names an enum value that does not exist', () => {
    expect(() => encodeMessage(TypeUrl.Cluster, { name: 'c', lb_policy: 'FASTEST' })).toThrow(/lb_policy: "FASTEST" is not a LbPolicy value/);
  });

  it('rejects an object where a scalar belongs', () => {
    expect(() => encodeMessage(TypeUrl.Cluster, { name: { nested: true } })).toThrow(/Cluster\.name: expected a string/);
  });
});
