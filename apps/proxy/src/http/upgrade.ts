/**
 * HTTP/1.1 Upgrade (WebSocket) and CONNECT, after the filter stack has let the request through.
 * The request is sent upstream over the cluster's transport socket (mTLS to a peer sidecar, as
 * for any other request) with its Upgrade headers; only a `101 Switching Protocols` answer turns
 * the two connections into a tunnel. Any other answer is relayed as an ordinary response and the
 * downstream connection goes back to the connection manager as HTTP (CVE-2024-23326: a 200 or a
 * 404 must not switch the connection into a byte pipe that skips every filter). The upstream
 * side of an upgrade uses node:http's client (its 'upgrade'/'response' split is exactly this
 * decision) over a socket from the cluster's transport.
 */
import http from 'node:http';
import net from 'node:net';
import type { RouteActionConfig } from '../config/route';
import { Outcome, type UpstreamCluster } from '../cluster/cluster';
import type { Host } from '../cluster/host';
import { UpstreamTlsFactory } from '../security/transport';
import { RESPONSE_HOP_BY_HOP, type Exchange } from './exchange';
import { originalDstHost } from '../cluster/level';
import { localReply } from './local-reply';
import type { H1Response } from '../http1/server';
import { onUpstreamPeer, onUpstreamResponseHeaders } from '../telemetry/layer';

type Headers = Record<string, string | string[] | undefined>;

/** True when a request asks for a WebSocket upgrade (GET with an `Upgrade: websocket` token). */
export function isWebSocketUpgrade(method: string, headers: Headers): boolean {
  const up = headers.upgrade;
  return method === 'GET' && typeof up === 'string' && /(^|,)\s*websocket\s*(,|$)/i.test(up);
}

/** Opens the upstream connection for `host` with the cluster's transport socket (TLS when configured). */
function connectUpstream(cluster: UpstreamCluster, host: Host, cb: (err: Error | null, socket: net.Socket | null) => void): void {
  const spec = cluster.spec;
  const transport = spec.transport.forHost ? spec.transport.forHost(host.metadata) : spec.transport;
  if (transport instanceof UpstreamTlsFactory) {
    const connector = transport.connector({ timeoutMs: spec.connectTimeoutMs, localAddress: spec.sourceAddress ?? undefined, appProtocols: ['http/1.1'], onPeer: (p) => { host.peerPrincipal = p; } });
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

/** Forwards an Upgrade request whose filters passed; splices only on 101. */
export function forwardUpgrade(ex: Exchange, cluster: UpstreamCluster, action: RouteActionConfig): void {
  const up = ex.upgrade!;
  ex.cluster = cluster;
  ex.action = action;
  const host = cluster.spec.lb === 'original_dst' ? originalDstHost(ex, cluster) : cluster.pick(ex.hash, 0, null);
  if (host === null) {
    cluster.stats.upstream_cx_none_healthy++;
    localReply(ex, 503, 'no healthy upstream', null);
    return;
  }
  if (cluster.requestOverflow(false)) {
    cluster.stats.upstream_rq_pending_overflow++;
    localReply(ex, 503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', { 'x-envoy-overloaded': 'true' });
    return;
  }
  const headers: Headers = { ...ex.upstreamHeaders! };
  headers.connection = 'Upgrade';
  headers.upgrade = ex.req.headers.upgrade as string;
  if (action.autoHostRewrite) headers.host = host.key;
  cluster.rqActive++;
  host.activeRequests++;
  cluster.stats.upstream_rq_total++;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    cluster.rqActive--;
    host.activeRequests--;
  };
  const creq = http.request({
    method: ex.method,
    path: ex.upstreamPath,
    headers: headers as http.OutgoingHttpHeaders,
    setHost: false,
    createConnection: ((_o: unknown, cb: (err: Error | null, s: net.Socket | null) => void) => {
      connectUpstream(cluster, host, cb);
      return undefined;
    }) as never,
  });
  const onDownClose = () => creq.destroy();
  up.socket.once('close', onDownClose);
  creq.on('upgrade', (res: http.IncomingMessage, upSocket: net.Socket, upHead: Buffer) => {
    up.socket.removeListener('close', onDownClose);
    if (res.statusCode !== 101 || ex.done || up.socket.destroyed) {
      upSocket.destroy();
      release();
      if (!ex.done) localReply(ex, 502, 'upstream answered an upgrade without switching protocols', null);
      return;
    }
    cluster.report(host, Outcome.Success);
    const out = responseHeaders(ex, res);
    if (host.peerPrincipal && ex.ctx.telemetry) onUpstreamPeer(ex, host.peerPrincipal);
    let head = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\n`;
    for (const k in out) {
      const v = out[k];
      if (v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [v]) head += `${k}: ${x}\r\n`;
    }
    head += 'connection: Upgrade\r\n';
    head += `upgrade: ${res.headers.upgrade ?? ''}\r\n\r\n`;
    up.tunnelled = true;
    ex.headersSent = true;
    ex.status = 101;
    (ex.res as H1Response).statusCode = 101;
    const down = up.socket;
    down.write(head);
    if (upHead.length) down.write(upHead);
    if (up.head.length) upSocket.write(up.head);
    upSocket.setNoDelay(true);
    down.pipe(upSocket);
    upSocket.pipe(down);
    const end = () => {
      down.destroy();
      upSocket.destroy();
      release();
      ex.finish(101);
      // the tunnel's end is the end of the exchange for telemetry
      ex.res.emit('close');
    };
    down.on('error', end);
    upSocket.on('error', end);
    down.once('close', end);
    upSocket.once('close', end);
  });
  creq.on('response', (res: http.IncomingMessage) => {
    // The upstream did not switch protocols: an ordinary response, and the connection stays HTTP.
    cluster.report(host, res.statusCode! >= 500 ? Outcome.Http5xx : Outcome.Success);
    cluster.stats.status(res.statusCode!);
    const out = responseHeaders(ex, res);
    out['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - ex.startedAt));
    ex.writeHead(res.statusCode!, out, false);
    res.on('data', (c: Buffer) => {
      if (!ex.write(c)) {
        res.pause();
        ex.res.once('drain', () => res.resume());
      }
    });
    res.once('end', () => {
      release();
      upSocketOf(creq)?.destroy();
      ex.end(null);
    });
    res.once('error', () => {
      release();
      if (!ex.done) localReply(ex, 503, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination', null);
    });
  });
  creq.on('error', (err: Error & { code?: string }) => {
    release();
    if (ex.done || up.tunnelled) return;
    const connect = err.code === 'ECONNREFUSED' || err.code === 'UND_ERR_CONNECT_TIMEOUT' || err.code === 'EHOSTUNREACH' || /certificate|identity|TLS/i.test(err.message);
    if (connect) cluster.stats.upstream_cx_connect_fail++;
    else cluster.stats.upstream_rq_rx_reset++;
    cluster.report(host, Outcome.LocalFailure);
    localReply(ex, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${connect ? 'connection failure' : 'connection termination'}`, null);
  });
  creq.end();
}

function upSocketOf(creq: http.ClientRequest): net.Socket | null {
  return (creq.socket as net.Socket | null) ?? null;
}

/** The upstream response's headers without hop-by-hop ones, with the route's response mutations. */
function responseHeaders(ex: Exchange, res: http.IncomingMessage): Headers {
  const out: Headers = {};
  for (const k in res.headers) if (!RESPONSE_HOP_BY_HOP.has(k)) out[k] = res.headers[k];
  if (ex.ctx.telemetry) onUpstreamResponseHeaders(ex, out);
  const action = ex.action!;
  const w = ex.clusterIndex >= 0 ? action.weightedResponseMutations[ex.clusterIndex] : null;
  const fmt = ex.formatContext();
  if (w !== null && !w.empty) w.apply(out, fmt);
  if (!ex.route!.responseMutation.empty) ex.route!.responseMutation.apply(out, fmt);
  if (!ex.vhost!.responseMutation.empty) ex.vhost!.responseMutation.apply(out, fmt);
  if (!ex.table!.responseMutation.empty) ex.table!.responseMutation.apply(out, fmt);
  return out;
}
