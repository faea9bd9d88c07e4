import { describe, expect, it } from 'vitest';
import { adsCodec } from '../proto/ads-service';
import { encodeResource } from '../resource';
import { TypeUrl } from '../type-urls';
import { encodeDeltaResponse, encodeSotwResponse } from './response-encoder';

const clusters = [
  encodeResource(TypeUrl.Cluster, { name: 'outbound|8080||a.default.svc.cluster.local', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } } as never),
  // Long enough that lengths take several varint bytes.
  encodeResource(TypeUrl.Cluster, { name: `outbound|9090||${'b'.repeat(300)}.svc.cluster.local`, type: 'STRICT_DNS', connect_timeout: { seconds: 10, nanos: 0 } } as never),
];

describe('response encoder', () => {
  it('writes a DiscoveryResponse the generated decoder reads back field for field', () => {
    const b = encodeSotwResponse({ version: 'v1é', typeUrl: TypeUrl.Cluster, nonce: '7', identifier: 'tsmesh', resources: clusters });
    const d = adsCodec.decodeResponse(b);
    expect(d.version_info).toBe('v1é');
    expect(d.type_url).toBe(TypeUrl.Cluster);
    expect(d.nonce).toBe('7');
    expect(d.control_plane?.identifier).toBe('tsmesh');
    expect(d.resources.map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Cluster]);
    expect(d.resources.map((r) => Buffer.from(r.value as Uint8Array).equals(Buffer.from(clusters[d.resources.indexOf(r)].any.value)))).toEqual([true, true]);
  });

  it('writes a DeltaDiscoveryResponse with names, versions and removed names', () => {
    const b = encodeDeltaResponse({ systemVersion: 'sv', typeUrl: TypeUrl.Cluster, nonce: 'a', identifier: 'tsmesh', resources: clusters, removed: ['gone-1', 'gone-2'] });
    const d = adsCodec.decodeDeltaResponse(b);
    expect(d.system_version_info).toBe('sv');
    expect(d.nonce).toBe('a');
    expect(d.removed_resources).toEqual(['gone-1', 'gone-2']);
    expect(d.resources.map((r) => [r.name, r.version])).toEqual(clusters.map((c) => [c.name, c.version]));
    expect(Buffer.from(d.resources[1].resource!.value as Uint8Array).equals(Buffer.from(clusters[1].any.value))).toBe(true);
    const empty = adsCodec.decodeDeltaResponse(encodeDeltaResponse({ systemVersion: '', typeUrl: TypeUrl.Listener, nonce: '', identifier: '', resources: [], removed: [] }));
    expect(empty.type_url).toBe(TypeUrl.Listener);
    expect(empty.resources).toEqual([]);
  });
});
