import { describe, expect, it } from 'vitest';
import { sendResponseHead } from '../http1/wire';
import { definedOnly, withoutPeerMetadata, withoutRequestHopByHop, withoutResponseHopByHop } from './header-copy';

const wire = (h: Record<string, string | string[] | number | undefined>): string => {
  let out = '';
  sendResponseHead({ writableLength: 0, write: (b: Buffer) => ((out = b.toString('latin1')), true) }, 200, 'OK', h, null, false);
  return out;
};

describe('header copies', () => {
  it('leave the request hop-by-hop fields out, keep the rest in order, and do not touch the source', () => {
    const src = { host: 'a', connection: 'keep-alive, x-drop', 'keep-alive': 'timeout=5', te: 'trailers', 'x-b': 'b', upgrade: 'h2c', expect: '100-continue', 'transfer-encoding': 'chunked', 'proxy-connection': 'x', 'http2-settings': 'AA', 'x-c': ['1', '2'] };
    const h = withoutRequestHopByHop(src);
    expect(Object.entries(h).filter(([, v]) => v !== undefined)).toEqual([['host', 'a'], ['x-b', 'b'], ['x-c', ['1', '2']]]);
    expect(src.connection).toBe('keep-alive, x-drop');
    expect(wire(h)).toBe('HTTP/1.1 200 OK\r\nhost: a\r\nx-b: b\r\nx-c: 1\r\nx-c: 2\r\n\r\n');
  });

  it('leave the response hop-by-hop fields out, and the peer metadata only when asked', () => {
    const src = { server: 's', connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-envoy-peer-metadata': 'm', 'x-envoy-peer-metadata-id': 'id', 'content-length': '4' };
    expect(wire(withoutResponseHopByHop(src, true))).toBe('HTTP/1.1 200 OK\r\nserver: s\r\ncontent-length: 4\r\n\r\n');
    expect(wire(withoutResponseHopByHop(src, false))).toBe('HTTP/1.1 200 OK\r\nserver: s\r\nx-envoy-peer-metadata: m\r\nx-envoy-peer-metadata-id: id\r\ncontent-length: 4\r\n\r\n');
    expect(wire(withoutPeerMetadata(src))).toBe('HTTP/1.1 200 OK\r\nserver: s\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\ncontent-length: 4\r\n\r\n');
    // a copy the HTTP/2 compatibility response takes: no undefined field at all
    expect(definedOnly(withoutResponseHopByHop(src, true))).toEqual({ server: 's', 'content-length': '4' });
  });
});
