/**
 * The HTTP connection manager of one filter chain: takes accepted connections (HTTP/1.1 or
 * cleartext HTTP/2, by codec or by the connection preface), turns requests into exchanges,
 * picks the route and runs the filter stack; WebSocket upgrades are tunnelled to the upstream.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { HcmSpec } from '../config/listener';
import type { RouteTable } from '../config/route';
import { kConnInfo, type ConnInfo, type ProxyContext } from '../context';
import type { HttpStats } from '../stats';
import { Exchange, type DownstreamRequest, type DownstreamResponse } from './exchange';
import { faultLayer, stack, type HttpHandler, type Layer } from './filters';
import { Router } from './router';
import { normalizePath } from './normalize';
import { localReply } from './local-reply';
import { telemetryLayer } from '../telemetry/layer';
import { H1ServerConnection, type H1Owner, type H1Request, type H1Response, type H1ServerOptions } from '../http1/server';

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
      headersTimeoutMs: 60_000,
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
    this.handler = stack(layers, new Router());
  }

  private http2Server(): http2.Http2Server {
    if (this.h2) return this.h2;
    const s = http2.createServer({ settings: { maxConcurrentStreams: 1024 } });
    s.on('request', this.onRequest.bind(this));
    s.on('session', (session: http2.Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      if (this.ctx.draining) session.goaway();
    });
    this.h2 = s;
    return s;
  }

  /** Open downstream connections on this connection manager. */
  openConnections = 0;

  /** Hands an accepted connection to the codec; `first` is the data already read from it (unshifted). */
  accept(socket: net.Socket, first: Buffer | null): void {
    this.stats.downstream_cx_total++;
    this.openConnections++;
    socket.once('close', () => this.openConnections--);
    let h2 = this.spec.codec === 'HTTP2';
    if (this.spec.codec === 'AUTO' && first !== null) h2 = first.length >= 3 && first.subarray(0, Math.min(first.length, H2_PREFACE.length)).equals(H2_PREFACE.subarray(0, Math.min(first.length, H2_PREFACE.length)));
    if (h2) {
      this.stats.downstream_cx_http2_total++;
      this.http2Server().emit('connection', socket);
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
    // A replaced chain finishes this request with its old config, then closes the connection so
    // the client reconnects to the chain now in force (Envoy drains replaced filter chains).
    if (this.retiredFlag) (res as { shouldKeepAlive?: boolean }).shouldKeepAlive = false;
    const conn = connInfoOf(req);
    let target = (req.url ?? '/');
    if (this.spec.normalizePath || this.spec.mergeSlashes) {
      const q = target.indexOf('?');
      const p = normalizePath(q < 0 ? target : target.slice(0, q), this.spec.normalizePath, this.spec.mergeSlashes);
      if (p === null) {
        const ex0 = new Exchange(req, res, conn, this.ctx, this.stats, '/');
        localReply(ex0, 400, 'Bad Request', null);
        return;
      }
      target = q < 0 ? p : p + target.slice(q);
    }
    const ex = new Exchange(req, res, conn, this.ctx, this.stats, target);
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

  /** @internal an Upgrade or CONNECT request: the socket is the tunnel's from now on */
  onUpgrade(req: H1Request, socket: net.Socket, head: Buffer): void {
    this.stats.downstream_cx_upgrades_total++;
    tunnelUpgrade(this, req, socket, head);
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
    for (const s of this.sessions) s.goaway();
  }

  /** Closes all connections now. */
  close(): void {
    for (const c of this.h1Conns) c.socket.destroy();
    for (const s of this.sessions) s.destroy();
  }
}

const NO_CONN: ConnInfo = { listener: '', dstIp: '', dstPort: 0, srcIp: '', srcPort: 0 };

/** The ConnInfo of a request's connection (HTTP/2 requests reach it through their session). */
export function connInfoOf(req: DownstreamRequest): ConnInfo {
  const s = req.socket as unknown as { [kConnInfo]?: ConnInfo };
  const direct = s[kConnInfo];
  if (direct) return direct;
  const sess = (req as http2.Http2ServerRequest).stream?.session as unknown as { [kConnInfo]?: ConnInfo; socket?: { [kConnInfo]?: ConnInfo } } | undefined;
  return sess?.socket?.[kConnInfo] ?? NO_CONN;
}

/** WebSocket (HTTP/1.1 Upgrade): route, pick an endpoint, replay the request head, then splice the sockets. */
function tunnelUpgrade(hcm: HttpConnectionManager, req: H1Request, socket: net.Socket, head: Buffer): void {
  const conn = connInfoOf(req);
  const ex = new Exchange(req, fakeResponse(socket), conn, hcm.ctx, hcm.stats, req.url ?? '/');
  const table = hcm.routeTable();
  const vh = table?.selectVirtualHost(ex.authority) ?? null;
  const route = vh?.match(ex) ?? null;
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const allowed = upgrade === 'websocket' && (route?.action?.websocket ?? hcm.spec.websocket);
  if (!route || !route.action || !allowed) {
    socket.end(`HTTP/1.1 ${route ? 403 : 404} ${route ? 'Forbidden' : 'Not Found'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    ex.finish(route ? 403 : 404);
    return;
  }
  const action = route.action;
  let name = action.cluster;
  if (!name) {
    ex.clusterIndex = action.pickCluster();
    name = action.weightedNames[ex.clusterIndex];
  }
  const cluster = hcm.ctx.clusters.get(name);
  ex.table = table;
  ex.vhost = vh;
  ex.route = route;
  ex.prepare(action, route, vh!, table!);
  const host = cluster ? (cluster.spec.lb === 'original_dst' ? cluster.originalDst(conn.dstIp, conn.dstPort) : cluster.pick(ex.hash, 0, null)) : null;
  if (!cluster || !host) {
    socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    ex.finish(503);
    return;
  }
  const h = ex.upstreamHeaders!;
  h.connection = 'Upgrade';
  h.upgrade = req.headers.upgrade;
  let headText = `${req.method} ${ex.upstreamPath} HTTP/1.1\r\n`;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) headText += `${k}: ${x}\r\n`;
    else headText += `${k}: ${v}\r\n`;
  }
  headText += '\r\n';
  cluster.rqActive++;
  host.activeRequests++;
  cluster.stats.upstream_rq_total++;
  const up = net.connect({ host: host.address, port: host.port, ...(cluster.spec.sourceAddress ? { localAddress: cluster.spec.sourceAddress } : {}) });
  up.setNoDelay(true);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    cluster.rqActive--;
    host.activeRequests--;
    ex.finish(101);
  };
  up.once('connect', () => {
    up.write(headText);
    if (head.length) up.write(head);
    socket.pipe(up);
    up.pipe(socket);
  });
  up.on('error', () => {
    if (!up.readableDidRead && socket.writable) socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    else socket.destroy();
    release();
  });
  socket.on('error', () => up.destroy());
  up.once('close', () => { socket.destroy(); release(); });
  socket.once('close', () => { up.destroy(); release(); });
}

/** A minimal response stand-in for upgrade exchanges (they never write an HTTP response object). */
function fakeResponse(socket: net.Socket): DownstreamResponse {
  return { headersSent: true, destroy: () => socket.destroy(), on: () => undefined } as unknown as DownstreamResponse;
}
