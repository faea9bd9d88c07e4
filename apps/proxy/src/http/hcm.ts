/**
 * The HTTP connection manager of one filter chain: takes accepted connections (HTTP/1.1 or
 * cleartext HTTP/2, by codec or by the connection preface), turns requests into exchanges,
 * picks the route and runs the filter stack. WebSocket handshakes and CONNECT run the same filter
 * stack; the router tunnels them only when the upstream switches protocols (./upgrade).
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type { HcmSpec } from '../config/listener';
import type { RouteTable } from '../config/route';
import { kConnInfo, type ConnInfo, type ProxyContext } from '../context';
import { kPeerIdentity } from '../security/peer';
import type { HttpStats } from '../stats';
import { Exchange, type DownstreamRequest, type DownstreamResponse, type UpgradeRequest } from './exchange';
import { faultLayer, stack, type HttpHandler, type Layer } from './filters';
import { Router } from './router';
import { RouteLevel } from './route-level';
import { ClusterLevel } from '../cluster/level';
import { normalizePath } from './normalize';
import { localReply } from './local-reply';
import { telemetryLayer } from '../telemetry/layer';
import { H1Response, H1ServerConnection, type H1Owner, type H1Request, type H1ServerOptions } from '../http1/server';

/** Extra layers (authz, telemetry, ...) a later module inserts before the router. */
export type LayerFactory = (spec: HcmSpec, ctx: ProxyContext) => Layer | null;
const extraLayers: LayerFactory[] = [];

/** Registers an HTTP layer for every connection manager created from now on. */
export function registerHttpLayer(f: LayerFactory): void {
  extraLayers.push(f);
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/** Runtime of one `HttpConnectionManager`. */
export class HttpConnectionManager implements H1Owner {
  readonly stats: HttpStats;
  private readonly h1Options: H1ServerOptions;
  private h2: http2.Http2Server | null = null;
  private readonly handler: HttpHandler;
  private readonly sessions = new Set<http2.Http2Session>();
  /** Set when a config update replaced this manager's filter chain: its connections are drained. */
  private retiredFlag = false;
  /** HTTP/1 connections of this manager. */
  private readonly h1Conns = new Set<H1ServerConnection>();

  constructor(readonly spec: HcmSpec, readonly ctx: ProxyContext) {
    this.stats = ctx.stats.httpFor(spec.statPrefix);
    this.h1Options = {
      headersTimeoutMs: spec.requestHeadersTimeoutMs,
      idleTimeoutMs: Math.min(spec.streamIdleTimeoutMs || 300_000, 300_000),
      streamIdleTimeoutMs: spec.streamIdleTimeoutMs,
      requestTimeoutMs: spec.requestTimeoutMs,
    };
    const layers: Layer[] = [];
    // Istio telemetry sees every request, whatever the filters after it answer
    if (ctx.telemetry) layers.push(telemetryLayer(ctx.telemetry, spec.statPrefix.startsWith('inbound') ? 'inbound' : 'outbound'));
    for (const l of spec.layers) layers.push(l.layer === 'fault' ? faultLayer(spec.faultFilter) : l.layer);
    for (const f of extraLayers) {
      const l = f(spec, ctx);
      if (l) layers.push(l);
    }
    // the request path's levels, built once per connection manager (per config version)
    this.handler = stack(layers, new Router(new RouteLevel(new ClusterLevel())));
  }

  private http2Server(): http2.Http2Server {
    if (this.h2) return this.h2;
    const s = http2.createServer({ settings: { maxConcurrentStreams: 1024 } });
    s.on('request', this.onRequest.bind(this));
    // CONNECT streams go through the filter stack too (the router refuses them) instead of
    // Node's automatic 405, so they are authorized, counted and logged like any request
    s.on('connect', this.onRequest.bind(this));
    s.on('session', (session: http2.Http2Session) => {
      // the connection's facts (original destination, verified peer) go on the session: a TLS
      // connection reaches it wrapped in a stream of Node's, which does not carry them
      const from = this.h2Accepting as unknown as Record<symbol, unknown> | null;
      if (from !== null) {
        const to = session as unknown as Record<symbol, unknown>;
        to[kConnInfo] = from[kConnInfo];
        to[kPeerIdentity] = from[kPeerIdentity];
      }
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      if (this.ctx.draining) goaway(session);
    });
    this.h2 = s;
    return s;
  }

  /** Open downstream connections on this connection manager. */
  openConnections = 0;
  /** The connection being handed to the HTTP/2 server (its 'session' event fires synchronously). */
  private h2Accepting: net.Socket | null = null;

  /** Hands an accepted connection to the codec; `first` is the data already read from it (unshifted). */
  accept(socket: net.Socket, first: Buffer | null): void {
    this.stats.downstream_cx_total++;
    this.openConnections++;
    socket.once('close', () => this.openConnections--);
    let h2 = this.spec.codec === 'HTTP2';
    if (this.spec.codec === 'AUTO' && first !== null) h2 = first.length >= 3 && first.subarray(0, Math.min(first.length, H2_PREFACE.length)).equals(H2_PREFACE.subarray(0, Math.min(first.length, H2_PREFACE.length)));
    if (h2) {
      this.stats.downstream_cx_http2_total++;
      // HTTP/2 ends with GOAWAY, not half-close: the socket ends with the client's side
      socket.allowHalfOpen = false;
      if (socket.readableEnded && socket.writable) socket.end();
      const server = this.http2Server();
      this.h2Accepting = socket;
      try {
        server.emit('connection', socket);
      } finally {
        this.h2Accepting = null;
      }
    } else {
      this.stats.downstream_cx_http1_total++;
      socket.setNoDelay(true);
      const c = new H1ServerConnection(socket, this, this.h1Options);
      this.h1Conns.add(c);
      socket.once('close', () => this.h1Conns.delete(c));
      if (this.retiredFlag || this.ctx.draining) c.closing = true;
    }
  }

  /** The route table in force. */
  routeTable(): RouteTable | null {
    return this.spec.inlineRoutes ?? this.ctx.routes.get(this.spec.rdsName!) ?? null;
  }

  /** @internal a request of an HTTP/1.1 connection or an HTTP/2 stream */
  onRequest(req: DownstreamRequest, res: DownstreamResponse): void {
    this.dispatch(req, res, null);
  }

  /** Turns a request into an exchange: authority checks, path normalisation, route, then the filter stack. */
  private dispatch(req: DownstreamRequest, res: DownstreamResponse, upgrade: UpgradeRequest | null): void {
    // A replaced chain finishes this request with its old config, then closes the connection so
    // the client reconnects to the chain now in force (Envoy drains replaced filter chains).
    if (this.retiredFlag) (res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
    const conn = connInfoOf(req);
    let target = originFormTarget(req);
    if (target === null) {
      // Two Host headers, Host and :authority (or an absolute-form target) naming different
      // hosts: which one a policy and the app would each use is ambiguous, so Envoy refuses it
      // and closes the connection (requests pipelined behind it are never read).
      (res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
      const ex0 = new Exchange(req, res, conn, this.ctx, this.stats, '/');
      ex0.upgrade = upgrade;
      localReply(ex0, 400, 'Bad Request', null);
      return;
    }
    // CONNECT names an authority, not a path: it is routed (and refused by the router) as `/`
    if (req.method === 'CONNECT') target = '/';
    else if (this.spec.normalizePath || this.spec.mergeSlashes) {
      const q = target.indexOf('?');
      const p = normalizePath(q < 0 ? target : target.slice(0, q), this.spec.normalizePath, this.spec.mergeSlashes);
      if (p === null) {
        const ex0 = new Exchange(req, res, conn, this.ctx, this.stats, '/');
        ex0.upgrade = upgrade;
        localReply(ex0, 400, 'Bad Request', null);
        return;
      }
      target = q < 0 ? p : p + target.slice(q);
    }
    const ex = new Exchange(req, res, conn, this.ctx, this.stats, target);
    ex.upgrade = upgrade;
    ex.connectEnabled = this.spec.connect;
    ex.stripInternalHeaders = this.spec.useRemoteAddress;
    ex.appendXff = this.spec.useRemoteAddress && !this.spec.skipXffAppend;
    // at the edge a client cannot claim to be internal (require_tls EXTERNAL_ONLY reads it)
    if (ex.stripInternalHeaders) delete ex.headers['x-envoy-internal'];
    const table = this.routeTable();
    if (table !== null) {
      ex.table = table;
      const vh = table.selectVirtualHost(ex.authority);
      if (vh !== null) {
        ex.vhost = vh;
        ex.route = vh.match(ex);
        if (vh.requireTls !== 0 && ex.scheme !== 'https' && (vh.requireTls === 2 || ex.headers['x-envoy-internal'] !== 'true')) {
          // Envoy's require_tls: redirect plaintext requests to https
          ex.writeHead(301, { location: `https://${ex.authority.replace(/:\d+$/, '')}${target}`, 'content-length': '0' }, false);
          ex.flushHead();
          (res as H1Response).end();
          ex.finish(301);
          return;
        }
      }
    }
    this.handler.handle(ex);
  }

  /**
   * @internal An Upgrade or CONNECT request, whose socket the codec hands over after the head: it
   * gets a response on that socket and goes through the same filter stack as any request. The
   * router tunnels it only when the upstream switches protocols; otherwise, once the response is
   * written, the socket goes back to the HTTP codec (CONNECT: it is closed).
   */
  onUpgrade(req: H1Request, socket: net.Socket, head: Buffer): void {
    this.stats.downstream_cx_upgrades_total++;
    const res = new H1Response(req.conn, req, req.method !== 'CONNECT' && !req.conn.closing);
    const up: UpgradeRequest = { socket, head, websocket: this.spec.websocket, tunnelled: false };
    res.once('close', () => this.afterUpgradeResponse(req, res, up));
    this.dispatch(req, res, up);
  }

  private afterUpgradeResponse(req: H1Request, res: H1Response, up: UpgradeRequest): void {
    if (up.tunnelled) return;
    const s = up.socket;
    if (s.destroyed) return;
    if (!res.writableEnded) {
      // the exchange ended without a complete response (reset)
      s.destroy();
      return;
    }
    if (!res.shouldKeepAlive || this.retiredFlag || this.ctx.draining) {
      s.end();
      return;
    }
    // back to HTTP: bytes the client sent after the head are parsed as the next request
    this.h1Conns.delete(req.conn);
    const c = new H1ServerConnection(s, this, this.h1Options);
    this.h1Conns.add(c);
    s.once('close', () => this.h1Conns.delete(c));
    if (up.head.length) s.unshift(up.head);
    s.resume();
  }

  /** Starts draining: `connection: close` on HTTP/1 responses, GOAWAY on HTTP/2, idle connections closed. */
  /** Stops serving new requests on kept-alive connections: idle ones close now, busy ones after their response. */
  retire(): void {
    this.retiredFlag = true;
    for (const c of this.h1Conns) c.closeWhenIdle();
    this.drain();
  }

  drain(): void {
    for (const c of this.h1Conns) if (c.idle) c.closeWhenIdle();
    for (const s of this.sessions) goaway(s);
  }

  /** Closes all connections now. */
  close(): void {
    for (const c of this.h1Conns) c.socket.destroy();
    for (const s of this.sessions) s.destroy();
  }
}

/**
 * GOAWAY to a session that can still take it: a session whose client went away mid-stream is
 * destroyed before its 'close' event (and its removal from the set), and `goaway()` on it throws
 * ERR_HTTP2_INVALID_SESSION.
 */
function goaway(s: http2.Http2Session): void {
  if (s.destroyed || s.closed) return;
  try {
    s.goaway();
  } catch {
    // the session went away in between: nothing to tell it
  }
}

const NO_CONN: ConnInfo = { listener: '', dstIp: '', dstPort: 0, srcIp: '', srcPort: 0 };

/** The ConnInfo of a request's connection (HTTP/2 requests reach it through their session). */
export function connInfoOf(req: DownstreamRequest): ConnInfo {
  const s = req.socket as unknown as { [kConnInfo]?: ConnInfo };
  const direct = s[kConnInfo];
  if (direct) return direct;
  const sess = (req as http2.Http2ServerRequest).stream?.session as unknown as { [kConnInfo]?: ConnInfo; socket?: { [kConnInfo]?: ConnInfo } } | undefined;
  return sess?.[kConnInfo] ?? sess?.socket?.[kConnInfo] ?? NO_CONN;
}

/**
 * The request target in origin form, or null when the request names its host ambiguously: two
 * Host headers, HTTP/2 `:authority` and `host` that differ, or an absolute-form target whose
 * authority is not the Host header's.
 */
export function originFormTarget(req: DownstreamRequest): string | null {
  const h = req.headers;
  if (req.httpVersionMajor === 2) {
    const a = h[':authority'];
    const host = h.host;
    if (a !== undefined && host !== undefined && String(a).toLowerCase() !== String(host).toLowerCase()) return null;
    return req.url ?? '/';
  }
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') hosts++;
  if (hosts > 1) return null;
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47 /* / */ || url === '*' || req.method === 'CONNECT') return url;
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)(.*)$/is.exec(url);
  if (m === null) return null;
  const host = h.host;
  if (typeof host === 'string' && host.toLowerCase() !== m[1].toLowerCase()) return null;
  const rest = m[2];
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}
