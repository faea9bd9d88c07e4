import { describe, expect, it } from 'vitest';
import { Http1Parser, REQUEST, RESPONSE, type ParserEvents } from './parser';

interface M { method: string; target: string; status: number; raw: string[]; names: string[]; body: string; trailers: string[] | null; keepAlive: boolean; upgrade: boolean; expect: boolean }

class Rec implements ParserEvents {
  msgs: M[] = [];
  cur: M | null = null;
  err: { status: number; reason: string } | null = null;
  onHead(p: Http1Parser): void {
    this.cur = { method: p.method, target: p.target, status: p.status, raw: p.raw.slice(), names: p.names.slice(), body: '', trailers: null, keepAlive: p.keepAlive, upgrade: p.upgrade, expect: p.expectContinue };
    if (p.upgrade) this.msgs.push(this.cur);
  }
  onBody(c: Buffer): void {
    this.cur!.body += c.toString('latin1');
  }
  onComplete(t: string[] | null): void {
    this.cur!.trailers = t;
    this.msgs.push(this.cur!);
  }
  onError(status: number, reason: string): void {
    this.err = { status, reason };
  }
}

function parse(kind: number, ...chunks: string[]): { rec: Rec; p: Http1Parser } {
  const rec = new Rec();
  const p = new Http1Parser(kind, rec);
  for (const c of chunks) p.execute(Buffer.from(c, 'latin1'));
  return { rec, p };
}

const req = (...c: string[]) => parse(REQUEST, ...c);

describe('HTTP/1.1 parser: requests', () => {
  it('parses a head into raw names/values and lower-cased names, byte by byte too', () => {
    const text = 'GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nx-multi:  b  \r\n\r\n';
    for (const chunks of [[text], [...text]]) {
      const { rec } = req(...chunks);
      expect(rec.err).toBeNull();
      expect(rec.msgs).toHaveLength(1);
      expect(rec.msgs[0]).toMatchObject({ method: 'GET', target: '/a?b=1', raw: ['Host', 'x', 'X-Multi', 'a', 'x-multi', 'b'], names: ['host', 'x-multi', 'x-multi'], keepAlive: true });
    }
  });

  it('texts reused across a connection\'s messages are those of the bytes each message carries', () => {
    // one parser (a keep-alive connection) sees values repeated, changed at the same length, in
    // other cases and with Latin-1 bytes; each message must parse as it does on a fresh parser
    const pick = <T>(xs: T[], i: number) => xs[(i * 7 + (i >> 2)) % xs.length];
    const methods = ['GET', 'PUT', 'GET', 'POST'];
    const targets = ['/a', '/b', '/a', '/ab', '/a?x=1'];
    const names = ['User-Agent', 'user-agent', 'USER-AGENT', 'User-agent'];
    const values = ['curl/8', 'curl/9', 'curl/8', '', 'caf\xe9', 'cafe', 'x'.repeat(300), 'x'.repeat(299) + 'y', 'x'.repeat(150) + 'z' + 'x'.repeat(149), 'x'.repeat(300)];
    const types = ['text/plain', 'text/plaim', 'Text/Plain'];
    const msgs: string[] = [];
    for (let i = 0; i < 40; i++) {
      msgs.push(`${pick(methods, i)} ${pick(targets, i + 1)} HTTP/1.1\r\nHost: h${i % 3}\r\n${pick(names, i)}: ${pick(values, i + 2)}\r\nContent-Type: ${pick(types, i)}\r\nContent-Length: 0\r\n\r\n`);
    }
    const together = req(msgs.join(''));
    expect(together.rec.err).toBeNull();
    expect(together.rec.msgs).toHaveLength(msgs.length);
    msgs.forEach((m, i) => {
      const got = together.rec.msgs[i];
      expect(got).toEqual(req(m).rec.msgs[0]);
      expect([got.method, got.target, got.raw[1], got.raw[2], got.raw[3], got.raw[5]]).toEqual([pick(methods, i), pick(targets, i + 1), `h${i % 3}`, pick(names, i), pick(values, i + 2), pick(types, i)]);
    });
  });

  it('a value that changed since the last message is checked again (a kept text skips the check only for the same bytes)', () => {
    const ok = 'GET / HTTP/1.1\r\nHost: x\r\nAccept: abc\r\nUser-Agent: u\r\n\r\n';
    for (const bad of ['a\x01c', 'a\0c', 'a\rc', 'a\x7fc']) {
      const { rec } = req(ok, ok, `GET / HTTP/1.1\r\nHost: x\r\nAccept: ${bad}\r\nUser-Agent: u\r\n\r\n`);
      expect(rec.msgs).toHaveLength(2);
      expect(rec.err?.status).toBe(400);
    }
  });

  it('Content-Length and chunked bodies, with trailers; pipelined requests in order', () => {
    const { rec } = req('POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel', 'loPOST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(rec.err).toBeNull();
    expect(rec.msgs.map((m) => [m.target, m.body, m.trailers])).toEqual([['/1', 'hello', null], ['/2', 'abcde', ['X-T', '1']], ['/3', '', null]]);
  });

  it('Connection: close ends parsing; HTTP/1.0 is close unless keep-alive', () => {
    const a = req('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /again HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(a.rec.msgs.map((m) => m.target)).toEqual(['/']);
    expect(a.p.closed).toBe(true);
    expect(req('GET / HTTP/1.0\r\n\r\n').rec.msgs[0].keepAlive).toBe(false);
    expect(req('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').rec.msgs[0].keepAlive).toBe(true);
  });

  it('Expect: 100-continue, Upgrade and CONNECT (the bytes after the head are the tunnel)', () => {
    expect(req('PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n').rec.cur!.expect).toBe(true);
    const u = req('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00raw');
    expect(u.rec.msgs[0].upgrade).toBe(true);
    expect(u.p.upgraded).toBe(true);
    expect(u.p.takeRest().toString('latin1')).toBe('\x81\x00raw');
    const c = req('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03');
    expect(c.rec.msgs[0]).toMatchObject({ method: 'CONNECT', target: 'example.com:443', upgrade: true });
    expect(c.p.takeRest().length).toBe(2);
  });

  it('pause() holds body delivery until resume() (backpressure)', () => {
    const rec = new Rec();
    let paused = false;
    const p = new Http1Parser(REQUEST, {
      onHead: (x) => rec.onHead(x),
      onBody: (c) => {
        rec.onBody(c);
        if (!paused) {
          paused = true;
          p.pause();
        }
      },
      onComplete: (t) => rec.onComplete(t),
      onError: (s, r) => rec.onError(s, r),
    });
    p.execute(Buffer.from('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(rec.cur!.body).toBe('a');
    expect(rec.msgs).toHaveLength(0);
    p.execute(Buffer.from('GET /m HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(rec.msgs).toHaveLength(0);
    p.resume();
    expect(rec.msgs.map((m) => [m.target, m.body])).toEqual([['/', 'ab'], ['/n', ''], ['/m', '']]);
  });

  const smuggling: [string, string, number][] = [
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['duplicate Content-Length (same value)', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 400],
    ['Content-Length list', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc', 400],
    ['malformed Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n', 400],
    ['bare LF', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 400],
    ['bare CR', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', 400],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', 400],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
    ['invalid token character in a name', 'GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n', 400],
    ['duplicate Host', 'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', 400],
    ['missing Host (HTTP/1.1)', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['transfer coding other than chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
    ['chunked not last', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
    ['two Transfer-Encoding lines', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['`chunked ` with trailing whitespace', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked \r\n\r\n', 400],
    ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['chunk data without CRLF', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', 400],
    ['unsupported version', 'GET / HTTP/1.2\r\nHost: x\r\n\r\n', 505],
    ['unknown method', 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['space in the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ];
  for (const [name, text, status] of smuggling) {
    it(`refuses ${name} (${status}) and parses nothing more`, () => {
      const { rec, p } = req(text, 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(rec.err?.status).toBe(status);
      expect(rec.msgs).toHaveLength(0);
      expect(p.closed).toBe(true);
    });
  }

  it('Envoy limits: 60 KiB of headers and 100 headers (431)', () => {
    const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(61 * 1024)}\r\n\r\n`;
    expect(req(big).rec.err?.status).toBe(431);
    // without the end of the head ever arriving
    expect(req(big.slice(0, 62 * 1024)).rec.err?.status).toBe(431);
    let many = 'GET / HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 99; i++) many += `X-${i}: v\r\n`;
    expect(req(`${many}\r\n`).rec.err).toBeNull();
    expect(req(`${many}X-100: v\r\n\r\n`).rec.err?.status).toBe(431);
  });
});

describe('HTTP/1.1 parser: responses', () => {
  const res = (noBody: boolean, ...c: string[]) => {
    const rec = new Rec();
    const p = new Http1Parser(RESPONSE, rec);
    p.noBodyExpected = noBody;
    for (const x of c) p.execute(Buffer.from(x, 'latin1'));
    return { rec, p };
  };

  it('no body for HEAD, 204 and 304 whatever the framing says; 1xx then the final response', () => {
    expect(res(true, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').rec.msgs.map((m) => m.body)).toEqual(['', '']);
    expect(res(false, 'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n').rec.msgs.map((m) => m.status)).toEqual([204, 304]);
    expect(res(false, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok').rec.msgs.map((m) => [m.status, m.body])).toEqual([[100, ''], [200, 'ok']]);
  });

  it('chunked with trailers; a body without framing runs to EOF', () => {
    expect(res(false, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\ngrpc-status: 0\r\n\r\n').rec.msgs[0]).toMatchObject({ body: 'ok', trailers: ['grpc-status', '0'] });
    const { rec, p } = res(false, 'HTTP/1.1 200 OK\r\n\r\nuntil', ' close');
    expect(rec.msgs).toHaveLength(0);
    expect(p.finish()).toBe(true);
    expect(rec.msgs[0]).toMatchObject({ body: 'until close', keepAlive: false });
  });

  it('an incomplete response at EOF is reported', () => {
    const { p } = res(false, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    expect(p.finish()).toBe(false);
  });

  it('refuses CL+TE and bad status lines', () => {
    expect(res(false, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n').rec.err?.reason).toBe('content-length with transfer-encoding');
    expect(res(false, 'HTTP/1.1 2000 OK\r\n\r\n').rec.err).not.toBeNull();
    expect(res(false, 'HTTP/1.1 099 OK\r\n\r\n').rec.err).not.toBeNull();
  });
});
