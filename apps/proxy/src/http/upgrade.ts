/**
 * HTTP/1.1 Upgrade (WebSocket) and CONNECT, after the filter stack has let the request through.
 * The request is sent upstream over the cluster's transport socket (mTLS to a peer sidecar, as
 * for any other request) with its Upgrade headers; only a `101 Switching Protocols` answer turns
 * the two connections into a tunnel. Any other answer is relayed as an ordinary response and the
 * downstream connection goes back to the connection manager as HTTP (CVE-2024-23326: a 200 or a
 * 404 must not switch the connection into a byte pipe that skips every filter). The upstream
 * side is the proxy's HTTP/1.1 codec ({@link H1UpgradeRequest}: a 101 hands over the socket, any
 * other answer is parsed as a response) over a socket from the cluster's transport.
 *
 * Bytes: an upgraded stream is one HTTP request for telemetry (Envoy's and Istio's view), so the
 * tunnel's bytes are that stream's body bytes — what the client sent through the tunnel (also
 * bytes that came with its head) is `istio_request_bytes` / the access log's `bytes_received`,
 * what the upstream sent back (also bytes that came with its 101) `istio_response_bytes` /
 * `bytes_sent`, recorded when the tunnel closes. Istio's TCP counters (`istio_tcp_*`) come only
 * from TCP proxy filter chains (`tcp/tcp-proxy.ts`), not from upgraded HTTP streams.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import { H1UpgradeRequest, type H1UpgradeHandler } from '../http1/client';
import { sendResponseHead } from '../http1/wire';
import { RF } from './response-flags';
import type { RouteActionConfig } from '../config/route';
import { Outcome, type UpstreamCluster } from '../cluster/cluster';
import type { Host } from '../cluster/host';
import { UpstreamTlsFactory } from '../security/transport';
import type { Exchange } from './exchange';
import { withoutResponseHopByHop } from './header-copy';
import { originalDstHost } from '../cluster/level';
import { localReply } from './local-reply';
import type { H1Request, H1Response } from '../http1/server';
import { onUpstreamPeer, peerFromUpstreamResponse } from '../telemetry/layer';

type Headers = Record<string, string | string[] | undefined>;

/** True when a request asks for a WebSocket upgrade (GET with an `Upgrade: websocket` token). */
export function isWebSocketUpgrade(method: string, headers: Headers): boolean {
  const up = headers.upgrade;
  return method === 'GET' && typeof up === 'string' && /(^|,)\s*websocket\s*(,|$)/i.test(up);
}

/** Opens the upstream connection for `host` with the cluster's transport socket (TLS when configured). */
function connectUpstream(cluster: UpstreamCluster, host: Host, cb: (err: Error | null, socket: net.Socket | null) => void, appProtocols: readonly string[] = ['http/1.1']): void {
  const spec = cluster.spec;
  const transport = spec.transport.forHost ? spec.transport.forHost(host.metadata) : spec.transport;
  if (transport instanceof UpstreamTlsFactory) {
    const connector = transport.connector({ timeoutMs: spec.connectTimeoutMs, localAddress: spec.sourceAddress ?? undefined, appProtocols, onPeer: (p) => { host.peerPrincipal = p; } });
    connector({ hostname: host.address, port: host.port }, cb);
    return;
  }
  const s = net.connect({ host: host.address, port: host.port, noDelay: true, ...(transport.upstreamConnectOptions() ?? {}), ...(spec.sourceAddress ? { localAddress: spec.sourceAddress } : {}) });
  const timer = setTimeout(() => s.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), spec.connectTimeoutMs);
  const done = (err: Error | null) => {
    clearTimeout(timer);
    s.removeListener('error', done);
    if (err) cb(err, null);
    else cb(null, s);
  };
  s.once('error', done);
  s.once('connect', () => done(null));
}

/**
 * The upstream host of an Upgrade or CONNECT, or null once the client has been answered: 503 with
 * UH when no host is healthy, 503 with UO when the cluster's request limit is reached.
 */
function tunnelHost(ex: Exchange, cluster: UpstreamCluster): Host | null {
  const host = cluster.spec.lb === 'original_dst' ? originalDstHost(ex, cluster) : cluster.pick(ex.hash, 0, null);
  if (host === null) {
    cluster.stats.upstream_cx_none_healthy++;
    ex.flags |= RF.NoHealthyUpstream;
    localReply(ex, 503, 'no healthy upstream', null);
    return null;
  }
  if (cluster.requestOverflow(false)) {
    ex.flags |= RF.UpstreamOverflow;
    localReply(ex, 503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', { 'x-envoy-overloaded': 'true' });
    return null;
  }
  return host;
}

/** Forwards an Upgrade request whose filters passed; splices only on 101. */
export function forwardUpgrade(ex: Exchange, cluster: UpstreamCluster, action: RouteActionConfig): void {
  ex.cluster = cluster;
  ex.action = action;
  const host = tunnelHost(ex, cluster);
  if (host === null) return;
  const headers: Headers = { ...ex.upstreamHeaders! };
  headers.connection = 'Upgrade';
  headers.upgrade = ex.req.headers.upgrade as string;
  if (action.autoHostRewrite) headers.host = host.key;
  cluster.rqActive++;
  host.activeRequests++;
  cluster.stats.upstream_rq_total++;
  const f = new UpgradeForward(ex, cluster, host, headers, ex.upstreamPath);
  connectUpstream(cluster, host, f.onConnect.bind(f));
}

/**
 * Forwards a CONNECT whose filters passed (Envoy's `upgrade_configs` CONNECT). With the route's
 * `connect_config` the proxy terminates it: it connects to the cluster's host over the cluster's
 * transport socket (mTLS where configured), answers `200` and splices the two connections.
 * Without it the CONNECT goes upstream (HTTP/1.1) and only a 2xx answer makes the tunnel; any
 * other answer is relayed as a response and the connection closed.
 */
export function forwardConnect(ex: Exchange, cluster: UpstreamCluster, action: RouteActionConfig): void {
  ex.cluster = cluster;
  ex.action = action;
  if (!action.connectTerminate && ex.upgrade === null) {
    ex.stats.upgrades_refused++;
    localReply(ex, 501, 'CONNECT is forwarded upstream only from HTTP/1.1 (terminate it with connect_config)', null);
    return;
  }
  const host = tunnelHost(ex, cluster);
  if (host === null) return;
  cluster.rqActive++;
  host.activeRequests++;
  cluster.stats.upstream_rq_total++;
  if (action.connectTerminate) {
    const t = new ConnectTunnel(ex, cluster, host);
    // a terminated CONNECT carries opaque bytes: no HTTP protocol is offered over TLS
    connectUpstream(cluster, host, t.onConnect.bind(t), []);
    return;
  }
  const headers: Headers = { ...ex.upstreamHeaders! };
  delete headers['x-forwarded-proto'];
  if (action.autoHostRewrite) headers.host = host.key;
  const f = new UpgradeForward(ex, cluster, host, headers, String(headers.host ?? ex.authority));
  connectUpstream(cluster, host, f.onConnect.bind(f));
}

const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 OK\r\n\r\n', 'latin1');

/** A terminated CONNECT: the upstream connection, then `200` and a tunnel (HTTP/1.1 connection or HTTP/2 stream). */
class ConnectTunnel {
  private released = false;

  constructor(private readonly ex: Exchange, private readonly cluster: UpstreamCluster, private readonly host: Host) {}

  /** The downstream side: the HTTP/1.1 connection, or the HTTP/2 stream. */
  private down(): Duplex {
    const ex = this.ex;
    return ex.upgrade !== null ? ex.upgrade.socket : (ex.req as Http2ServerRequest).stream;
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.cluster.rqActive--;
    this.host.activeRequests--;
  }

  onConnect(err: Error | null, socket: net.Socket | null): void {
    const ex = this.ex;
    if (err !== null || socket === null) {
      this.release();
      if (ex.done) return;
      this.cluster.stats.upstream_cx_connect_fail++;
      this.cluster.report(this.host, Outcome.LocalFailure);
      ex.flags |= RF.UpstreamConnectionFailure;
      localReply(ex, 503, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', null);
      return;
    }
    const down = this.down();
    if (ex.done || down.destroyed) {
      socket.destroy();
      this.release();
      return;
    }
    socket.setNoDelay(true);
    this.cluster.report(this.host, Outcome.Success);
    this.cluster.stats.upstream_cx_total++;
    if (this.host.peerPrincipal && ex.ctx.telemetry) onUpstreamPeer(ex, this.host.peerPrincipal);
    ex.headersSent = true;
    ex.status = 200;
    if (ex.upgrade !== null) {
      const up = ex.upgrade;
      up.tunnelled = true;
      (ex.res as H1Response).statusCode = 200;
      up.socket.write(CONNECT_ESTABLISHED);
      // bytes the client sent right after its CONNECT head are the tunnel's first
      if (up.head.length) {
        tunnelRequestBytes(ex, up.head.length);
        socket.write(up.head);
      }
    } else {
      (down as ServerHttp2Stream).respond({ ':status': 200 });
    }
    Tunnel.join(this, ex, down, socket).resume();
  }

  /** @internal the tunnel closed */
  tunnelEnded(): void {
    this.release();
    const ex = this.ex;
    ex.finish(200);
    // the tunnel's end is the end of the exchange for telemetry
    ex.onResponseClose();
    if (ex.upgrade !== null) ex.res.emit('close');
  }
}

/** One upgrade on its way: the upstream connection, then a tunnel (101) or a relayed response. */
class UpgradeForward implements H1UpgradeHandler {
  private released = false;
  private client: H1UpgradeRequest | null = null;
  private upSocket: net.Socket | null = null;
  private readonly onDownClose = this.downClosed.bind(this);

  constructor(private readonly ex: Exchange, private readonly cluster: UpstreamCluster, private readonly host: Host, private readonly headers: Headers, private readonly target: string) {
    ex.upgrade!.socket.once('close', this.onDownClose);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.cluster.rqActive--;
    this.host.activeRequests--;
  }

  private downClosed(): void {
    this.client?.destroy();
    this.upSocket?.destroy();
    this.release();
  }

  onConnect(err: Error | null, socket: net.Socket | null): void {
    const ex = this.ex;
    if (err !== null || socket === null) {
      this.onError(err ?? new Error('connect failed'));
      return;
    }
    if (ex.done || ex.upgrade!.socket.destroyed) {
      socket.destroy();
      this.release();
      return;
    }
    socket.setNoDelay(true);
    this.upSocket = socket;
    this.client = new H1UpgradeRequest(socket, ex.method, this.target, this.headers, this);
  }

  onSwitched(status: number, headers: Headers, reason: string, upSocket: net.Socket, upHead: Buffer): void {
    const ex = this.ex;
    const up = ex.upgrade!;
    up.socket.removeListener('close', this.onDownClose);
    if (ex.done || up.socket.destroyed) {
      upSocket.destroy();
      this.release();
      return;
    }
    this.cluster.report(this.host, Outcome.Success);
    const out = responseHeaders(ex, headers);
    if (this.host.peerPrincipal && ex.ctx.telemetry) onUpstreamPeer(ex, this.host.peerPrincipal);
    if (ex.method !== 'CONNECT') {
      out.connection = 'Upgrade';
      out.upgrade = headers.upgrade ?? '';
    }
    up.tunnelled = true;
    ex.headersSent = true;
    ex.status = status;
    (ex.res as H1Response).statusCode = status;
    const down = up.socket;
    sendResponseHead(down, status, reason || (status === 101 ? 'Switching Protocols' : 'OK'), out, null, false);
    if (upHead.length) {
      ex.responseBytes += upHead.length;
      down.write(upHead);
    }
    if (up.head.length) {
      tunnelRequestBytes(ex, up.head.length);
      upSocket.write(up.head);
    }
    Tunnel.join(this, ex, down, upSocket);
    upSocket.resume();
  }

  /** @internal the tunnel closed */
  tunnelEnded(): void {
    this.release();
    const ex = this.ex;
    ex.finish(ex.status);
    // the tunnel's end is the end of the exchange for telemetry
    ex.onResponseClose();
    ex.res.emit('close');
  }

  onResponse(status: number, headers: Headers): void {
    // The upstream did not switch protocols: an ordinary response, and the connection stays HTTP.
    const ex = this.ex;
    this.cluster.report(this.host, status >= 500 ? Outcome.Http5xx : Outcome.Success);
    this.cluster.stats.status(status);
    const out = responseHeaders(ex, headers);
    out['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - ex.startedAt));
    ex.writeHead(status, out, false);
    ex.flushAfterRead();
  }

  onData(chunk: Buffer): void {
    if (!this.ex.write(chunk)) {
      this.client!.pause();
      this.ex.res.once('drain', this.resumeClient.bind(this));
    }
  }

  private resumeClient(): void {
    this.client?.resume();
  }

  onEnd(): void {
    this.release();
    this.ex.upgrade!.socket.removeListener('close', this.onDownClose);
    this.ex.end(null);
  }

  onError(err: Error & { code?: string }): void {
    const ex = this.ex;
    this.release();
    ex.upgrade!.socket.removeListener('close', this.onDownClose);
    if (ex.done || ex.upgrade!.tunnelled) return;
    if (ex.headersSent) {
      ex.finish(ex.status);
      ex.res.destroy();
      return;
    }
    const connect = err.code === 'ECONNREFUSED' || err.code === 'UND_ERR_CONNECT_TIMEOUT' || err.code === 'EHOSTUNREACH' || /certificate|identity|TLS/i.test(err.message);
    if (connect) this.cluster.stats.upstream_cx_connect_fail++;
    else this.cluster.stats.upstream_rq_rx_reset++;
    this.cluster.report(this.host, Outcome.LocalFailure);
    ex.flags |= connect ? RF.UpstreamConnectionFailure : RF.UpstreamConnectionTermination;
    localReply(ex, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${connect ? 'connection failure' : 'connection termination'}`, null);
  }
}

/** Adds tunnel bytes from the client to the upgraded stream's request bytes. */
function tunnelRequestBytes(ex: Exchange, n: number): void {
  if (ex.upgrade !== null) (ex.req as H1Request).bodyBytes += n;
  else ex.h2RequestBytes += n;
}

/** A spliced pair of streams; `end` tears both down once. Counts the bytes each way on the exchange. */
class Tunnel {
  private done = false;
  readonly end = this.close.bind(this);
  readonly fromDown = this.countDown.bind(this);
  readonly fromUp = this.countUp.bind(this);
  constructor(private readonly owner: { tunnelEnded(): void }, private readonly ex: Exchange, private readonly down: Duplex, private readonly up: net.Socket) {}
  /** Pipes `down` and `up` into each other; either side's error or close ends both. Returns `down`. */
  static join(owner: { tunnelEnded(): void }, ex: Exchange, down: Duplex, up: net.Socket): Duplex {
    const t = new Tunnel(owner, ex, down, up);
    down.on('data', t.fromDown);
    up.on('data', t.fromUp);
    down.pipe(up);
    up.pipe(down);
    down.on('error', t.end);
    up.on('error', t.end);
    down.once('close', t.end);
    up.once('close', t.end);
    return down;
  }
  private countDown(chunk: Buffer): void {
    tunnelRequestBytes(this.ex, chunk.length);
  }
  private countUp(chunk: Buffer): void {
    this.ex.responseBytes += chunk.length;
  }
  private close(): void {
    if (this.done) return;
    this.done = true;
    this.down.destroy();
    this.up.destroy();
    this.owner.tunnelEnded();
  }
}

/** The upstream response's headers without hop-by-hop ones, with the route's response mutations. */
function responseHeaders(ex: Exchange, headers: Headers): Headers {
  const telemetry = !!ex.ctx.telemetry;
  const out = withoutResponseHopByHop(headers, telemetry) as Headers;
  if (telemetry) peerFromUpstreamResponse(ex, headers);
  const action = ex.action!;
  const w = ex.clusterIndex >= 0 ? action.weightedResponseMutations[ex.clusterIndex] : null;
  const fmt = ex.formatContext();
  if (w !== null && !w.empty) w.apply(out, fmt);
  if (!ex.route!.responseMutation.empty) ex.route!.responseMutation.apply(out, fmt);
  if (!ex.vhost!.responseMutation.empty) ex.vhost!.responseMutation.apply(out, fmt);
  if (!ex.table!.responseMutation.empty) ex.table!.responseMutation.apply(out, fmt);
  ex.applyResponseMutations(out);
  return out;
}
