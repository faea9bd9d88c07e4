import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { sendRequestHead, sendResponseHead, sendTrailers, type HeadSink } from './wire';

/** A sink that keeps every buffer it was given (as a write queue does) and reports them queued or taken. */
class Sink implements HeadSink {
  readonly got: Buffer[] = [];
  constructor(public queued = false) {}
  write(b: Buffer): boolean {
    this.got.push(b);
    return true;
  }
  get writableLength(): number {
    return this.queued ? this.got.reduce((n, b) => n + b.length, 0) : 0;
  }
  text(i: number): string {
    return this.got[i].toString('latin1');
  }
}

describe('head serialisation', () => {
  it('writes request and response heads, with the body in the same buffer', () => {
    const s = new Sink();
    sendRequestHead(s, 'GET', '/a?b=1', { host: 'x', 'x-n': 7, 'set-cookie': ['a=1', 'b=2'], 'x-ns': [1, 2] as unknown as string[], skipped: undefined }, null);
    expect(s.text(0)).toBe('GET /a?b=1 HTTP/1.1\r\nhost: x\r\nx-n: 7\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-ns: 1\r\nx-ns: 2\r\n\r\n');
    sendResponseHead(s, 200, 'OK', { 'content-length': '5' }, Buffer.from('hello'), false);
    expect(s.text(1)).toBe('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
    sendResponseHead(s, 201, 'Created', { 'transfer-encoding': 'chunked' }, Buffer.from('hello'), true);
    expect(s.text(2)).toBe('HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
    sendTrailers(s, { 'grpc-status': '0' });
    expect(s.text(3)).toBe('0\r\ngrpc-status: 0\r\n\r\n');
  });

  it('drops fields that could split the message, and an invalid reason phrase', () => {
    const s = new Sink();
    const long = 'v'.repeat(100);
    sendResponseHead(s, 502, 'Bad\r\nX: y', {
      ':status': '502', 'bad name': 'x', 'a\r\nb': 'x', '': 'x', 'x-crlf': 'a\r\nInjected: 1', 'x-lf': 'a\nb', 'x-nul': 'a\0b', 'x-wide': 'a\u0100b',
      'x-long-bad': `${long}\r\nInjected: 1`, 'x-long': long, 'x-tab': 'a\tb', 'x-obs': 'caf\u00e9', 'x-list': ['ok', 'no\r\n', 'fine'],
    }, null, false);
    expect(s.text(0)).toBe(`HTTP/1.1 502 \r\nx-long: ${long}\r\nx-tab: a\tb\r\nx-obs: caf\u00e9\r\nx-list: ok\r\nx-list: fine\r\n\r\n`);
    // a long value found valid is remembered; an invalid one of the same length is still refused
    sendRequestHead(s, 'GET', '/', { 'x-long': long, 'x-bad': `${'v'.repeat(99)}\n` }, null);
    expect(s.text(1)).toBe(`GET / HTTP/1.1\r\nx-long: ${long}\r\n\r\n`);
  });

  it('never reuses the bytes of a head a write queue still holds', () => {
    // queued: each head must stay intact while later heads are serialised (a sink that took
    // them whole lets the space be reused, which this test would catch if the check were skipped)
    const q = new Sink(true);
    const heads: string[] = [];
    for (let i = 0; i < 200; i++) {
      const body = Buffer.alloc(700 + i, 0x61 + (i % 26));
      sendResponseHead(q, 200, 'OK', { 'x-i': String(i), 'content-length': String(body.length) }, body, false);
      heads.push(`HTTP/1.1 200 OK\r\nx-i: ${i}\r\ncontent-length: ${body.length}\r\n\r\n${body.toString('latin1')}`);
    }
    q.got.forEach((b, i) => expect(b.toString('latin1')).toBe(heads[i]));
    // taken whole: the same bytes are used again
    const t = new Sink(false);
    sendRequestHead(t, 'GET', '/1', {}, null);
    sendRequestHead(t, 'GET', '/2', {}, null);
    expect(t.got[0].buffer).toBe(t.got[1].buffer);
    expect(t.got[0].byteOffset).toBe(t.got[1].byteOffset);
  });

  it('a view handed on again is never one a write queue holds', () => {
    // taken whole at the buffer's start, then the same length queued: the view may be the same
    // object, but once queued its bytes stay put while later heads are written
    const t = new Sink(false);
    const q = new Sink(true);
    sendRequestHead(t, 'GET', '/a', {}, null);
    sendRequestHead(q, 'GET', '/b', {}, null);
    expect(q.text(0)).toBe('GET /b HTTP/1.1\r\n\r\n');
    for (const p of ['/c', '/d', '/e']) sendRequestHead(t, 'GET', p, {}, null);
    sendRequestHead(q, 'GET', '/f', {}, null);
    expect(q.text(0)).toBe('GET /b HTTP/1.1\r\n\r\n');
    expect(q.text(1)).toBe('GET /f HTTP/1.1\r\n\r\n');
  });

  it('serialises heads larger than its buffer', () => {
    const s = new Sink(true);
    sendRequestHead(s, 'GET', '/', { a: 'x'.repeat(40_000) }, null);
    const big = 'y'.repeat(100_000);
    sendRequestHead(s, 'POST', '/p', { b: big }, Buffer.alloc(10_000, 0x7a));
    expect(s.text(0)).toBe(`GET / HTTP/1.1\r\na: ${'x'.repeat(40_000)}\r\n\r\n`);
    expect(s.text(1)).toBe(`POST /p HTTP/1.1\r\nb: ${big}\r\n\r\n${'z'.repeat(10_000)}`);
  });

  it('through real sockets: every head arrives intact whether the kernel took it at once or it queued', async () => {
    // the reader pauses, so the writer's socket buffer fills and later writes queue in Node
    const got: Buffer[] = [];
    let reader: net.Socket | null = null;
    const server = net.createServer((c) => {
      reader = c;
      c.pause();
      c.on('data', (b) => got.push(b));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const w = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => w.once('connect', r));
    const body = Buffer.alloc(8000, 0x62);
    let expected = '';
    // until the kernel's buffers are full and heads have queued in Node for a while
    let queued = 0;
    for (let i = 0; i < 10_000 && queued < 200; i++) {
      sendResponseHead(w, 200, 'OK', { 'x-i': String(i) }, body, false);
      if (w.writableLength > 0) queued++;
      expected += `HTTP/1.1 200 OK\r\nx-i: ${i}\r\n\r\n${body.toString('latin1')}`;
    }
    expect(queued).toBe(200);
    w.end();
    while (reader === null) await new Promise((r) => setTimeout(r, 5));
    const done = new Promise((r) => (reader as net.Socket).once('end', r));
    (reader as net.Socket).resume();
    await done;
    expect(Buffer.concat(got).toString('latin1') === expected).toBe(true);
    server.close();
  });
});
