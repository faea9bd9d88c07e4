import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { caCodec } from './messages';

describe('IstioCertificateService messages', () => {
  it('round-trips a request with a 64-bit duration and Struct metadata', () => {
    const bytes = caCodec.encodeRequest({ csr: 'PEM', validity_duration: 86400, metadata: { fields: { ImpersonatedIdentity: { stringValue: 'spiffe://x/ns/a/sa/b' } } } });
    const back = caCodec.decodeRequest(bytes);
    expect(back.csr).toBe('PEM');
    expect(back.validity_duration).toBe(86400);
    expect(back.metadata?.fields?.ImpersonatedIdentity).toEqual({ stringValue: 'spiffe://x/ns/a/sa/b' });
  });

  it('uses Istio field numbers: csr=1, validity_duration=3, cert_chain=1', () => {
    const r = protobuf.Reader.create(caCodec.encodeRequest({ csr: 'x', validity_duration: 5 }));
    const tags: number[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      tags.push(tag >>> 3);
      r.skipType(tag & 7);
    }
    expect(tags).toEqual([1, 3]);
    expect(caCodec.decodeResponse(caCodec.encodeResponse({ cert_chain: ['a', 'b'] })).cert_chain).toEqual(['a', 'b']);
  });
});
