/** Envoy's TCP proxy: one upstream connection per downstream connection, bytes spliced both ways. */
import net from 'node:net';
import tls from 'node:tls';
import { UpstreamTlsFactory } from '../security/transport';
import type { TcpProxySpec } from '../config/listener';
import type { ConnInfo, ProxyContext } from '../context';
import { hash32 } from '../cluster/lb';
import type { TcpChildren, TelemetryRecorder } from '../telemetry/recorder';
import { peerIdentityOf } from '../security/peer';
import { peerSpiffeId } from '@tsmesh/certs/spiffe';

/** Records an opened TCP connection with Istio's labels (inbound: the client's identity; outbound: the upstream's). */
function tcpOpened(r: TelemetryRecorder, statPrefix: string, conn: ConnInfo, down: net.Socket, up: net.Socket, clusterName: string): TcpChildren {
  const inbound = statPrefix.startsWith('inbound') || conn.listener === 'virtualInbound';
  const tlsSide = (inbound ? down : up) as tls.TLSSocket;
  const principal = peerIdentityOf(tlsSide)?.principal ?? (tlsSide.encrypted ? peerSpiffeId(tlsSide.getPeerCertificate()) ?? '' : '');
  const parts = clusterName.split('|');
  return r.tcpOpened({
    side: inbound ? 'inbound' : 'outbound', peer: null, peerPrincipal: principal,
    destinationService: parts.length === 4 ? parts[3] : '', responseFlags: '', mtls: tlsSide.encrypted === true,
  });
}

/** Proxies `socket` to the cluster of `spec`. */
export function tcpProxy(socket: net.Socket, first: Buffer | null, spec: TcpProxySpec, conn: ConnInfo, ctx: ProxyContext): void {
  const stats = ctx.stats.tcpFor(spec.statPrefix);
  stats.downstream_cx_total++;
  let name = spec.cluster;
  if (!name) {
    let total = 0;
    for (const w of spec.weighted) total += w.weight;
    let r = Math.random() * total;
    for (const w of spec.weighted) {
      if ((r -= w.weight) < 0) { name = w.name; break; }
    }
    name ||= spec.weighted[spec.weighted.length - 1].name;
  }
  const cluster = ctx.clusters.get(name);
  const host = !cluster ? null : cluster.spec.lb === 'original_dst' ? cluster.originalDst(conn.dstIp, conn.dstPort) : cluster.pick(hash32(conn.srcIp), 0, null);
  if (!cluster || !host) {
    stats.downstream_cx_no_route++;
    socket.destroy();
    return;
  }
  if (cluster.cxActive >= cluster.spec.limits.maxConnections) {
    cluster.stats.upstream_cx_overflow++;
    socket.destroy();
    return;
  }
  cluster.cxActive++;
  cluster.stats.upstream_cx_total++;
  host.activeRequests++;
  const transport = cluster.spec.transport.forHost ? cluster.spec.transport.forHost(host.metadata) : cluster.spec.transport;
  let up: net.Socket;
  let connectEvent = 'connect';
  if (transport instanceof UpstreamTlsFactory) {
    // mTLS to the upstream (ISTIO_MUTUAL on a TCP port): the bytes flow once the peer is checked
    let opts: Record<string, unknown>;
    try {
      opts = transport.upstreamConnectOptions([]);
    } catch {
      cluster.cxActive--;
      host.activeRequests--;
      socket.destroy();
      return;
    }
    up = tls.connect({ ...(opts as tls.ConnectionOptions), host: host.address, port: host.port, ...(cluster.spec.sourceAddress ? { localAddress: cluster.spec.sourceAddress } : {}) });
    up.setNoDelay(true);
    connectEvent = 'secureConnect';
  } else {
    up = net.connect({
      host: host.address,
      port: host.port,
      noDelay: true,
      ...(cluster.spec.sourceAddress ? { localAddress: cluster.spec.sourceAddress } : {}),
    });
  }
  const connectTimer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), cluster.spec.connectTimeoutMs);
  let connected = false;
  let released = false;
  let tcpMetrics: TcpChildren | null = null;
  const release = () => {
    if (released) return;
    released = true;
    cluster.cxActive--;
    host.activeRequests--;
    if (tcpMetrics !== null) {
      // Istio's TCP metrics: bytes from the downstream side's point of view
      tcpMetrics.received.inc(socket.bytesRead);
      tcpMetrics.sent.inc(socket.bytesWritten);
      tcpMetrics.closed.inc();
    }
  };
  up.once(connectEvent, () => {
    connected = true;
    clearTimeout(connectTimer);
    if (ctx.telemetry) tcpMetrics = tcpOpened(ctx.telemetry.recorder, spec.statPrefix, conn, socket, up, cluster.spec.name);
    if (first && first.length) up.write(first);
    // a client that half-closed before the upstream connected: pass its end on
    if (socket.readableEnded) up.end();
    socket.pipe(up);
    up.pipe(socket);
    if (spec.idleTimeoutMs > 0) {
      socket.setTimeout(spec.idleTimeoutMs, () => { socket.destroy(); up.destroy(); });
    }
  });
  up.on('error', () => {
    if (!connected) {
      stats.upstream_cx_connect_fail++;
      cluster.stats.upstream_cx_connect_fail++;
    }
    socket.destroy();
  });
  socket.on('error', () => up.destroy());
  up.once('close', () => { clearTimeout(connectTimer); release(); socket.destroy(); });
  socket.once('close', () => { up.destroy(); release(); });
  if (!first) return;
  // data already read from the socket was handed over in `first`
}
