import { describe, expect, it } from 'vitest';
import { headerObject, Repeats, type Headers } from './header-object';
import { Http1Parser, REQUEST, RESPONSE, type ParserEvents } from './parser';

/** Feeds heads to one parser (one connection) and returns each head's header object. */
function objects(kind: typeof REQUEST | typeof RESPONSE, heads: string[]): Headers[] {
  const out: Headers[] = [];
  const events: ParserEvents = {
    onHead: (p) => out.push(headerObject(p, kind === REQUEST ? Repeats.Request : Repeats.Response)),
    onBody: () => undefined,
    onComplete: () => undefined,
    onError: (status, reason) => {
      throw new Error(`${status} ${reason}`);
    },
  };
  const p = new Http1Parser(kind, events);
  for (const h of heads) p.execute(Buffer.from(h, 'latin1'));
  return out;
}

const req = (fields: string) => `GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`;

describe('header objects of a connection’s heads', () => {
  it('the same names again: the values of each head, not the last one’s', () => {
    const [a, b, c] = objects(REQUEST, [
      req('x-request-id: 1\r\nUser-Agent: u1\r\n'),
      req('x-request-id: 2\r\nUser-Agent: u2\r\n'),
      req('x-request-id: 3\r\nUser-Agent: u3\r\n'),
    ]);
    expect(a).toEqual({ host: 'a', 'x-request-id': '1', 'user-agent': 'u1' });
    expect(b).toEqual({ host: 'a', 'x-request-id': '2', 'user-agent': 'u2' });
    expect(c).toEqual({ host: 'a', 'x-request-id': '3', 'user-agent': 'u3' });
    expect(Object.keys(c)).toEqual(['host', 'x-request-id', 'user-agent']);
  });

  it('a change made to one head’s object does not reach the next (the template is private)', () => {
    const heads = [req('x-a: 1\r\n'), req('x-a: 2\r\n'), req('x-a: 3\r\n')];
    const out: Headers[] = [];
    const p = new Http1Parser(REQUEST, {
      onHead: (q) => {
        const h = headerObject(q, Repeats.Request);
        out.push({ ...h });
        // what a filter does to the request it was handed
        h['x-added'] = 'by a filter';
        h['x-a'] = undefined;
      },
      onBody: () => undefined,
      onComplete: () => undefined,
      onError: (s, r) => {
        throw new Error(`${s} ${r}`);
      },
    });
    for (const h of heads) p.execute(Buffer.from(h, 'latin1'));
    expect(out).toEqual([{ host: 'a', 'x-a': '1' }, { host: 'a', 'x-a': '2' }, { host: 'a', 'x-a': '3' }]);
  });

  it('other names, or the same names in another order, or fewer: built afresh', () => {
    const [, b, c, d] = objects(REQUEST, [req('x-a: 1\r\nx-b: 2\r\n'), req('x-b: 2\r\nx-a: 1\r\n'), req('x-a: 1\r\n'), req('x-c: 3\r\nx-a: 1\r\n')]);
    expect(Object.keys(b)).toEqual(['host', 'x-b', 'x-a']);
    expect(c).toEqual({ host: 'a', 'x-a': '1' });
    expect(d).toEqual({ host: 'a', 'x-c': '3', 'x-a': '1' });
  });

  it('repeated names keep their request semantics, head after head (cookie joined by "; ", set-cookie an array, others by ", ")', () => {
    const h = req('cookie: a=1\r\ncookie: b=2\r\nset-cookie: s=1\r\nx-l: 1\r\nx-l: 2\r\n');
    const out = objects(REQUEST, [h, h, req('x-l: 9\r\n'), req('x-l: 8\r\n'), h]);
    for (const o of [out[0], out[1], out[4]]) expect(o).toEqual({ host: 'a', cookie: 'a=1; b=2', 'set-cookie': ['s=1'], 'x-l': '1, 2' });
    expect(out[1]['set-cookie']).not.toBe(out[0]['set-cookie']);
    expect(out[3]).toEqual({ host: 'a', 'x-l': '8' });
    // a lone set-cookie is still an array, on the first head with these names and after it
    const sc = req('set-cookie: s=1\r\n');
    const [s1, s2] = objects(REQUEST, [sc, sc]);
    expect(s1['set-cookie']).toEqual(['s=1']);
    expect(s2['set-cookie']).toEqual(['s=1']);
    expect(s2['set-cookie']).not.toBe(s1['set-cookie']);
  });

  it('responses: repeated names as arrays, head after head', () => {
    const r = (v: string) => `HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-v: ${v}\r\nset-cookie: a\r\nset-cookie: b\r\n\r\n`;
    const [a, b] = objects(RESPONSE, [r('1'), r('2')]);
    expect(a).toEqual({ 'content-length': '0', 'x-v': '1', 'set-cookie': ['a', 'b'] });
    expect(b).toEqual({ 'content-length': '0', 'x-v': '2', 'set-cookie': ['a', 'b'] });
    const plain = (v: string) => `HTTP/1.1 204 No Content\r\nx-v: ${v}\r\nserver: s\r\n\r\n`;
    const [c, d] = objects(RESPONSE, [plain('1'), plain('2')]);
    expect(c).toEqual({ 'x-v': '1', server: 's' });
    expect(d).toEqual({ 'x-v': '2', server: 's' });
  });
});
