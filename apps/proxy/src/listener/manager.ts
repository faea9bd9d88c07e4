/**
 * Listeners at run time: binds the ones with `bind_to_port`, dispatches connections of
 * `use_original_dst` listeners to the listener of their original destination, selects the
 * filter chain and hands the connection to its HTTP connection manager or TCP proxy.
 */
import net from 'node:net';
import type tls from 'node:tls';
import type { ChainSpec, ListenerSpec } from '../config/listener';
import { kConnInfo, type ConnInfo, type ProxyContext } from '../context';
import { HttpConnectionManager } from '../http/hcm';
import { tcpProxy } from '../tcp/tcp-proxy';
import { originalDst } from '../capture/original-dst';
import { selectChain } from './chain-select';
import { parseClientHello } from '../security/client-hello';
import { jsDuplex } from '../security/js-duplex';
import { kPeerIdentity, peerIdentityOf } from '../security/peer';
import { adoptAccepted } from '../http1/reads';

interface Bound {
  server: net.Server;
  address: string;
  port: number;
  /** The listener currently served by this socket. */
  name: string;
}

function stripMapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const HTTP_METHODS = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE) /;

/** Protocol facts from the first bytes of a connection (TLS inspector: SNI and ALPN; HTTP inspector). */
function inspect(first: Buffer | null): { transport: string; apps: readonly string[]; sni: string } {
  if (!first || !first.length) return { transport: 'raw_buffer', apps: NONE, sni: '' };
  if (first[0] === 0x16) {
    const hello = parseClientHello(first);
    if (hello !== 'more' && hello.transport === 'tls') return { transport: 'tls', apps: hello.alpn, sni: hello.sni };
    return { transport: 'tls', apps: NONE, sni: '' };
  }
  const head = first.subarray(0, 16).toString('latin1');
  if (head.startsWith('PRI * HTTP/2.0')) return { transport: 'raw_buffer', apps: H2C, sni: '' };
  if (HTTP_METHODS.test(head)) return { transport: 'raw_buffer', apps: HTTP11, sni: '' };
  return { transport: 'raw_buffer', apps: NONE, sni: '' };
}

const NONE: readonly string[] = [];
const H2C: readonly string[] = ['h2c'];
const HTTP11: readonly string[] = ['http/1.1'];

/** The listener manager. */
export class ListenerManager {
  private specs = new Map<string, ListenerSpec>();
  private byAddress = new Map<string, ListenerSpec>();
  private readonly bound = new Map<string, Bound>();
  private readonly hcmByChain = new Map<ChainSpec, HttpConnectionManager>();
  /** Connection managers of replaced chains that still have open connections. */
  private readonly retired = new Set<HttpConnectionManager>();
  private readonly sockets = new Set<net.Socket>();
  private accepting = true;

  constructor(private readonly ctx: ProxyContext) {}

  /** Applies a full LDS state. Binding failures reject (the update is NACKed; nothing changes). */
  async apply(specs: ReadonlyMap<string, ListenerSpec>): Promise<void> {
    const toBind: ListenerSpec[] = [];
    for (const s of specs.values()) {
      if (!s.bindToPort) continue;
      const b = this.bound.get(s.name);
      if (!b || b.address !== s.address || (b.port !== s.port && s.port !== 0)) toBind.push(s);
    }
    // a port handed from a listener that goes away (or moves) to a new one: free it first
    for (const s of toBind) {
      for (const [name, b] of this.bound) {
        if (name === s.name || b.address !== s.address || b.port !== s.port) continue;
        const keeps = specs.get(name);
        if (!keeps || !keeps.bindToPort || keeps.port !== b.port || keeps.address !== b.address) {
          b.server.close();
          this.bound.delete(name);
        }
      }
    }
    const fresh: [ListenerSpec, Bound][] = [];
    try {
      for (const s of toBind) {
        const old = this.bound.get(s.name);
        if (old && old.address === s.address && old.port === s.port) continue;
        // a listener moving to a port another listener holds now: free it first when it is going away
        fresh.push([s, await this.bind(s)]);
      }
    } catch (err) {
      for (const [, b] of fresh) b.server.close();
      throw err;
    }
    for (const [s, b] of fresh) {
      const old = this.bound.get(s.name);
      if (old) old.server.close();
      this.bound.set(s.name, b);
    }
    for (const [name, b] of this.bound) {
      const s = specs.get(name);
      if (!s || !s.bindToPort) {
        b.server.close();
        this.bound.delete(name);
      }
    }
    this.specs = new Map(specs);
    // connection managers of chains no longer in force are kept only while they have connections
    const current = new Set<ChainSpec>();
    for (const l of specs.values()) for (const c of l.defaultChain ? [...l.chains, l.defaultChain] : l.chains) current.add(c);
    for (const [chain, hcm] of this.hcmByChain) {
      if (current.has(chain)) continue;
      this.hcmByChain.delete(chain);
      hcm.retire();
      this.retired.add(hcm);
    }
    for (const hcm of this.retired) if (hcm.openConnections === 0) this.retired.delete(hcm);
    const idx = new Map<string, ListenerSpec>();
    for (const s of specs.values()) idx.set(`${s.address}:${s.port}`, s);
    this.byAddress = idx;
  }

  private bind(s: ListenerSpec): Promise<Bound> {
    return new Promise((resolve, reject) => {
      // half-open: a client that ends its side after a complete request still gets the answer
      // (RFC 9112 §9.6); the codec (HTTP/1.1) or the TCP proxy decide when to end ours
      const server = net.createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true });
      const b: Bound = { server, address: s.address, port: s.port, name: s.name };
      // accepted paused: each connection moves to a socket reading into the shared buffer (http1/reads.ts)
      server.on('connection', (sock) => this.onConnection(b, adoptAccepted(sock, true)));
      server.once('error', (err) => reject(new Error(`listener "${s.name}": cannot bind ${s.address}:${s.port}: ${(err as Error).message}`)));
      server.listen({ host: s.address, port: s.port, backlog: 4096 }, () => {
        b.port = s.port === 0 ? (server.address() as net.AddressInfo).port : s.port;
        server.removeAllListeners('error');
        server.on('error', () => {});
        resolve(b);
      });
    });
  }

  /** The port a bound listener actually listens on (for port 0 listeners). */
  boundPort(name: string): number | undefined {
    return this.bound.get(name)?.port;
  }

  /** Listener names and their bound addresses. */
  listeners(): { name: string; address: string; port: number; bound: boolean }[] {
    return [...this.specs.values()].map((s) => ({ name: s.name, address: s.address, port: this.bound.get(s.name)?.port ?? s.port, bound: this.bound.has(s.name) }));
  }

  /** Compiled listeners in force. */
  current(): ReadonlyMap<string, ListenerSpec> {
    return this.specs;
  }

  private onConnection(b: Bound, socket: net.Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const spec = this.specs.get(b.name);
    if (!spec) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', noop);
    let listener = spec;
    let dstIp = stripMapped(socket.localAddress ?? '');
    let dstPort = socket.localPort ?? 0;
    if (spec.useOriginalDst || spec.originalDstFilter) {
      const od = originalDst(socket);
      if (od) {
        dstIp = stripMapped(od.address);
        dstPort = od.port;
      } else if (spec.useOriginalDst) {
        this.ctx.stats.listenerFor(spec.name).original_dst_lookup_failed++;
      }
    }
    if (spec.useOriginalDst) {
      const target = this.byAddress.get(`${dstIp}:${dstPort}`) ?? this.byAddress.get(`0.0.0.0:${dstPort}`) ?? this.byAddress.get(`:::${dstPort}`);
      if (target) listener = target;
      if (listener === spec && dstPort === b.port && (dstIp === stripMapped(socket.localAddress ?? '') || dstIp === '127.0.0.1')) {
        // not redirected, addressed to the capture port itself: nothing to pass through to
        socket.destroy();
        return;
      }
    }
    const conn: ConnInfo = { listener: listener.name, dstIp, dstPort, srcIp: stripMapped(socket.remoteAddress ?? ''), srcPort: socket.remotePort ?? 0 };
    (socket as unknown as { [kConnInfo]: ConnInfo })[kConnInfo] = conn;
    const ls = this.ctx.stats.listenerFor(listener.name);
    ls.downstream_cx_total++;
    ls.downstream_cx_active++;
    socket.once('close', () => ls.downstream_cx_active--);
    const needsFirst = listener.inspectProtocol || this.anyAutoHttp(listener);
    if (!needsFirst) {
      this.dispatch(listener, socket, conn, null);
      return;
    }
    readFirst(socket, (first) => this.dispatch(listener, socket, conn, first));
  }

  private anyAutoHttp(l: ListenerSpec): boolean {
    for (const c of l.chains) if (c.http && c.http.codec === 'AUTO') return true;
    return !!l.defaultChain?.http && l.defaultChain.http.codec === 'AUTO';
  }

  private dispatch(l: ListenerSpec, socket: net.Socket, conn: ConnInfo, first: Buffer | null): void {
    if (socket.destroyed) return;
    const facts = inspect(first);
    const chain = selectChain(l, { destinationIp: conn.dstIp, destinationPort: conn.dstPort, sourceIp: conn.srcIp, transportProtocol: facts.transport, applicationProtocols: facts.apps, serverName: facts.sni });
    if (!chain) {
      this.ctx.stats.listenerFor(l.name).no_filter_chain_match++;
      socket.destroy();
      return;
    }
    if (chain.transport.wrapDownstream) {
      // TLS terminated here: the chain gets the decrypted stream once the handshake and the
      // client certificate checks are done (so network filters see the verified peer)
      const s = chain.transport.wrapDownstream(socket) as tls.TLSSocket;
      s.on('error', noop);
      s.once('secure', () => {
        if (s.destroyed) return;
        if (s.alpnProtocol === 'h2' && chain.http) {
          // HTTP/2 sessions read this connection through a JavaScript stream
          const d = jsDuplex(s, { [kConnInfo]: conn, [kPeerIdentity]: peerIdentityOf(s) });
          this.deliver(chain, d as unknown as net.Socket, conn, H2_PREFACE);
          return;
        }
        this.deliver(chain, s, conn, null);
      });
      return;
    }
    this.deliver(chain, socket, conn, first);
  }

  private deliver(chain: ChainSpec, s: net.Socket, conn: ConnInfo, first: Buffer | null): void {
    // only the HTTP/1.1 codec and the TCP proxy handle a half-closed client themselves
    if (!chain.http && !chain.tcp) s.allowHalfOpen = false;
    for (const f of chain.networkFilters) {
      if (!f.accept(s, conn)) {
        s.destroy();
        return;
      }
    }
    if (chain.http) {
      let hcm = this.hcmByChain.get(chain);
      if (!hcm) {
        hcm = new HttpConnectionManager(chain.http, this.ctx);
        this.hcmByChain.set(chain, hcm);
      }
      hcm.accept(s, first);
    } else if (chain.tcp) {
      tcpProxy(s, null, chain.tcp, conn, this.ctx);
    } else {
      s.destroy();
    }
  }

  /** Stops accepting: closes every listening socket; HTTP connections are told to close. */
  drain(): void {
    this.accepting = false;
    for (const b of this.bound.values()) b.server.close();
    for (const h of this.allHcms()) h.drain();
  }

  private allHcms(): HttpConnectionManager[] {
    return [...this.hcmByChain.values(), ...this.retired];
  }

  /** Open downstream connections. */
  openConnections(): number {
    return this.sockets.size;
  }

  /** Periodic drain step: close idle HTTP connections. */
  drainTick(): void {
    for (const h of this.allHcms()) h.drain();
  }

  /** Closes everything now. */
  close(): void {
    this.accepting = false;
    for (const b of this.bound.values()) b.server.close();
    this.bound.clear();
    for (const h of this.allHcms()) h.close();
    for (const s of this.sockets) s.destroy();
  }
}

function noop(): void {}

/** Reads the first chunk of a connection and puts it back (for protocol inspection). */
function readFirst(socket: net.Socket, cb: (first: Buffer | null) => void): void {
  let done = false;
  let acc: Buffer | null = null;
  const timer = setTimeout(() => {
    if (done) return;
    if (acc !== null) socket.unshift(acc);
    finish(acc);
  }, 1000);
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) acc = acc === null ? chunk : Buffer.concat([acc, chunk]);
    if (acc === null) return;
    // a TLS ClientHello split over several segments: wait for the rest (up to 64 KiB)
    if (acc[0] === 0x16 && acc.length < 65_536 && parseClientHello(acc) === 'more') return;
    socket.unshift(acc);
    finish(acc);
  };
  function finish(chunk: Buffer | null) {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    cb(chunk);
  }
  const onEnd = () => {
    if (acc !== null) socket.unshift(acc);
    finish(acc);
  };
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
}
