/** The HTTP/1.1 codec's connections on real sockets: the server side and the upstream pool. */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { H1Pool, tcpConnector, type H1Controller, type H1Handler } from './client';
import { PoolLimits } from '../cluster/limits';
import { adoptAccepted, downstreamReads } from './reads';
import { H1ServerConnection, type H1Owner, type H1Request, type H1Response, type H1ServerOptions } from './server';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** Server sockets: as `net.Server` hands them over ('data' events), or adopted as the listeners do (shared read buffer). */
let adopting = false;

const OPTS: H1ServerOptions = { headersTimeoutMs: 0, idleTimeoutMs: 0, streamIdleTimeoutMs: 0, requestTimeoutMs: 0 };

/** A server on the codec; `answer` handles each request. */
async function serve(answer: (req: H1Request, res: H1Response) => void, opts: H1ServerOptions = OPTS, onUpgrade?: H1Owner['onUpgrade'], allowHalfOpen = false): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const owner: H1Owner = {
    onRequest(req, res) {
      seen.push(`${req.method} ${req.url}`);
      answer(req, res);
    },
    onUpgrade: onUpgrade ?? ((_r, s) => s.destroy()),
  };
  // as the listeners accept: paused, then moved to a socket reading into the shared buffer
  const srv = adopting
    ? net.createServer({ allowHalfOpen, pauseOnConnect: true }, (s) => {
      const a = adoptAccepted(s, allowHalfOpen);
      if (!downstreamReads(a)) throw new Error('the accepted socket was not adopted');
      new H1ServerConnection(a, owner, opts);
    })
    : net.createServer({ allowHalfOpen }, (s) => new H1ServerConnection(s, owner, opts));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  return { port: (srv.address() as net.AddressInfo).port, seen };
}

/** Writes raw bytes; resolves with everything read until the server closes (or `untilIdleMs` of silence). */
function raw(port: number, ...parts: (string | number)[]): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let timer: NodeJS.Timeout | null = null;
    const done = (closed: boolean) => {
      if (timer) clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (timer) timer.refresh();
    });
    s.on('close', () => done(true));
    s.on('error', () => undefined);
    s.on('connect', async () => {
      for (const p of parts) {
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else s.write(Buffer.from(p, 'latin1'));
      }
      timer = setTimeout(() => done(false), 300);
    });
  });
}

function echo(req: H1Request, res: H1Response): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'x-path': req.url, 'x-te': req.headers['transfer-encoding'] ?? '-' });
    res.end(body);
  });
}

for (const mode of ['data events', 'accepted sockets reading into the shared buffer'] as const) describe(`H1ServerConnection (${mode})`, () => {
  beforeAll(() => {
    adopting = mode !== 'data events';
  });
  it('answers pipelined requests in order, bodies framed by Content-Length and chunked', async () => {
    const { port } = await serve((req, res) => {
      // the first answer is the slowest: order must still hold
      const delay = req.url === '/1' ? 50 : 0;
      setTimeout(() => echo(req, res), delay);
    });
    const r = await raw(port, 'POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n');
    const paths = [...r.text.matchAll(/x-path: (\S+)/g)].map((m) => m[1]);
    expect(paths).toEqual(['/1', '/2', '/3']);
    expect(r.text).toContain('content-length: 3\r\n\r\nabc');
    expect(r.text).toContain('content-length: 2\r\n\r\nde');
  });

  it('streams a response without a length as chunked with trailers; HEAD gets no body', async () => {
    const { port } = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('hello ');
      res.addTrailers({ 'x-trailer': 'yes' });
      res.write('world');
      res.end();
      void req;
    });
    const r = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.text).toContain('transfer-encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\nx-trailer: yes\r\n\r\n');
    const h = await raw(port, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(h.text.endsWith('\r\n\r\n')).toBe(true);
    expect(h.text).not.toContain('hello');
  });

  it('refuses a smuggling attempt with 400 and closes, without calling the handler', async () => {
    const { port, seen } = await serve(echo);
    const r = await raw(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(r.closed).toBe(true);
    expect(seen).toEqual([]);
  });

  it('Expect: 100-continue is answered before the body is sent', async () => {
    const { port } = await serve(echo);
    const r = await raw(port, 'PUT /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n', 50, 'ok');
    expect(r.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(r.text.endsWith('ok')).toBe(true);
  });

  it('Connection: close and HTTP/1.0 close after the response', async () => {
    const { port } = await serve(echo);
    const a = await raw(port, 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(a.closed).toBe(true);
    expect(a.text).toContain('connection: close');
    const b = await raw(port, 'GET /b HTTP/1.0\r\n\r\n');
    expect(b.closed).toBe(true);
    const c = await raw(port, 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(c.closed).toBe(false);
  });

  it('request headers timeout (408) and idle timeout close the connection', async () => {
    const { port } = await serve(echo, { ...OPTS, headersTimeoutMs: 150, idleTimeoutMs: 150 });
    const slow = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n', 600);
    expect(slow.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow.closed).toBe(true);
    const idle = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 600);
    expect(idle.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(idle.closed).toBe(true);
  });

  it('a half-closed client still gets its response (on a half-open socket)', async () => {
    const { port } = await serve((req, res) => setTimeout(() => echo(req, res), 30), OPTS, undefined, true);
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('GET /h HTTP/1.1\r\nHost: x\r\n\r\n'));
      let t = '';
      s.on('data', (d) => (t += d));
      s.on('close', () => resolve(t));
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('hands Upgrade requests over with the bytes that followed the head', async () => {
    let got = '';
    const { port } = await serve(echo, OPTS, (req, socket, head) => {
      got = `${req.headers.upgrade} ${head.toString()}`;
      socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n');
    });
    const r = await raw(port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe');
    expect(r.text).toMatch(/^HTTP\/1\.1 101 /);
    expect(got).toBe('websocket frame');
  });

  it('backpressure: a slow reader pauses the socket and gets the whole body', async () => {
    const size = 8 * 1024 * 1024;
    const { port } = await serve((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        req.pause();
        setTimeout(() => req.resume(), 1);
      });
      req.on('end', () => res.end(String(n)));
    });
    const r = await raw(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n${'z'.repeat(size)}`, 3000);
    expect(r.text.endsWith(`\r\n\r\n${size}`)).toBe(true);
  }, 20_000);

  it('bodies, split heads and pipelined requests of connections read at the same time arrive intact', async () => {
    // Each client sends its requests in many small writes (separate reads), a head split mid-line
    // and a second request pipelined behind a body; the handler keeps every chunk it is given
    // without copying and pauses, so the other connection's reads reuse the buffer meanwhile.
    const { port } = await serve((req, res) => {
      const held: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        held.push(c);
        req.pause();
        setTimeout(() => req.resume(), 5);
      });
      req.on('end', () => setTimeout(() => res.end(`${req.url}:${Buffer.concat(held).toString('latin1')}`), 20));
    });
    const send = (letter: string) => {
      const body = letter.repeat(6000);
      const second = `POST /${letter}2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n${letter}${letter}${letter}`;
      return raw(port, `POST /${letter} HTTP/1.1\r\nHo`, 5, `st: x\r\nContent-Length: ${body.length}\r\n\r\n`, 5, body.slice(0, 2000), 5, body.slice(2000, 4000), 5, body.slice(4000) + second, 150);
    };
    const [a, b] = await Promise.all([send('a'), send('B')]);
    for (const [r, l] of [[a, 'a'], [b, 'B']] as const) {
      const bodies = r.text.split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).filter(Boolean);
      expect(bodies).toEqual([`/${l}:${l.repeat(6000)}`, `/${l}2:${l.repeat(3)}`]);
    }
  });
});

/** An upstream that counts connections and answers per path. */
async function upstream(): Promise<{ port: number; conns: () => number }> {
  let conns = 0;
  const srv = net.createServer((s) => {
    conns++;
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const cl = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + cl) return;
        buf = buf.slice(end + 4 + cl);
        const path = head.split(' ')[1];
        if (path === '/close') s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
        else if (path === '/chunked') s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n');
        else s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  return { port: (srv.address() as net.AddressInfo).port, conns: () => conns };
}

class Collect implements H1Handler {
  status = 0;
  body = '';
  trailers: Record<string, string | string[]> = {};
  err: Error | null = null;
  readonly done: Promise<void>;
  private resolve!: () => void;
  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }
  onResponseStart(_c: H1Controller, status: number): void {
    this.status = status;
  }
  onResponseData(_c: H1Controller, chunk: Buffer): void {
    this.body += chunk.toString();
  }
  onResponseEnd(_c: H1Controller, t: Record<string, string | string[]>): void {
    this.trailers = t;
    this.resolve();
  }
  onResponseError(_c: H1Controller | null, err: Error): void {
    this.err = err;
    this.resolve();
  }
}

async function get(pool: H1Pool, path: string, body: Buffer | null = null): Promise<Collect> {
  const c = new Collect();
  pool.dispatch({ method: body ? 'POST' : 'GET', path, headers: { host: 'u' }, body }, c);
  await c.done;
  return c;
}

describe('H1Pool', () => {
  const pool = (port: number, o: Partial<{ maxRequestsPerConnection: number; idleTimeoutMs: number; maxConnections: number }> = {}) => {
    const p = new H1Pool({ limits: new PoolLimits(o.maxConnections ?? 10, 1024, o.maxRequestsPerConnection ?? 0, o.idleTimeoutMs ?? 60_000), connect: tcpConnector('127.0.0.1', port, 1000, null, null) });
    closers.push(() => void p.close());
    return p;
  };

  it('reuses a connection after a complete response; chunked responses with trailers', async () => {
    const u = await upstream();
    const p = pool(u.port);
    expect((await get(p, '/a')).body).toBe('/a');
    const c = await get(p, '/chunked');
    expect([c.body, c.trailers]).toEqual(['abc', { 'x-t': '1' }]);
    expect((await get(p, '/b', Buffer.from('xyz'))).body).toBe('/b');
    expect(u.conns()).toBe(1);
  });

  it('a Connection: close response and max_requests_per_connection make new connections', async () => {
    const u = await upstream();
    const p = pool(u.port);
    await get(p, '/close');
    await get(p, '/a');
    expect(u.conns()).toBe(2);
    const u2 = await upstream();
    const p2 = pool(u2.port, { maxRequestsPerConnection: 1 });
    for (let i = 0; i < 3; i++) await get(p2, '/x');
    expect(u2.conns()).toBe(3);
  });

  it('idle connections close after the idle timeout; max_connections queues requests', async () => {
    const u = await upstream();
    const p = pool(u.port, { idleTimeoutMs: 100, maxConnections: 1 });
    const all = await Promise.all([get(p, '/1'), get(p, '/2'), get(p, '/3')]);
    expect(all.map((c) => c.body)).toEqual(['/1', '/2', '/3']);
    expect(u.conns()).toBe(1);
    expect(p.stats.connected).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(p.stats.connected).toBe(0);
  });

  it('connect failures are reported with their code', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    srv.close();
    const c = await get(pool(port), '/');
    expect((c.err as Error & { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('a keep-alive connection the server closed while idle is retried once on a new one', async () => {
    let conns = 0;
    const srv = net.createServer((s) => {
      conns++;
      s.once('data', () => {
        // answer, then close right away without saying so
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        setTimeout(() => s.destroy(), 5);
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => srv.close());
    const p = pool((srv.address() as net.AddressInfo).port);
    expect((await get(p, '/')).body).toBe('ok');
    await new Promise((r) => setTimeout(r, 50));
    expect((await get(p, '/')).body).toBe('ok');
    expect(conns).toBe(2);
  });
  it('reads land in one reused buffer: held body chunks, a split head and input kept while paused arrive intact', async () => {
    // Each response is sent in many writes (separate reads): a head split mid-line, chunk-size
    // lines split across reads, and two chunks in one read so the parser holds the second while
    // the handler has it paused. The handler keeps every chunk it is given without copying and
    // pauses for a while, so the other connection's reads go through the shared buffer meanwhile.
    const pieces = (letters: string): string[] => {
      const out = ['HTTP/1.1 200 OK\r\nTransfer-Enc', 'oding: chunked\r\n\r\n'];
      const data = (c: string) => `1000\r\n${c.repeat(4096)}\r\n`;
      out.push(data(letters[0]) + data(letters[1]));
      out.push(data(letters[2]).slice(0, 2), data(letters[2]).slice(2, 3000), data(letters[2]).slice(3000));
      out.push(data(letters[3]) + '1', '000\r\n' + letters[4].repeat(4096) + '\r\n0\r\n\r\n');
      return out;
    };
    const srv = net.createServer((s) => {
      s.setNoDelay(true);
      s.on('data', async (d) => {
        const path = d.toString('latin1').split(' ')[1];
        for (const part of pieces(path === '/lower' ? 'abcde' : 'VWXYZ')) {
          s.write(part);
          await new Promise((r) => setTimeout(r, 8));
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => srv.close());
    const p = pool((srv.address() as net.AddressInfo).port);
    class Holding extends Collect {
      held: Buffer[] = [];
      paused = false;
      override onResponseData(c: H1Controller, chunk: Buffer): void {
        this.held.push(chunk);
        if (this.paused) return;
        this.paused = true;
        c.pause();
        setTimeout(() => c.resume(), 60);
      }
    }
    const run = (path: string) => {
      const h = new Holding();
      p.dispatch({ method: 'GET', path, headers: { host: 'u' }, body: null }, h);
      return h.done.then(() => Buffer.concat(h.held).toString('latin1'));
    };
    const [lower, upper] = await Promise.all([run('/lower'), run('/upper')]);
    const want = (letters: string) => [...letters].map((c) => c.repeat(4096)).join('');
    expect(lower === want('abcde')).toBe(true);
    expect(upper === want('VWXYZ')).toBe(true);
    // and again on the same (reused) connections
    expect((await run('/lower')) === want('abcde')).toBe(true);
  });
});
