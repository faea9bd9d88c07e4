/**
 * The cluster level of the request path: the circuit breaker (UO), the load balancer (UH when it
 * has nothing to give; previous hosts avoided on retries), ORIGINAL_DST hosts, then the endpoint
 * level. One instance per connection manager, built with it.
 */
import type { Exchange } from '../http/exchange';
import { localReply } from '../http/local-reply';
import { RF } from '../http/response-flags';
import type { UpstreamCluster } from './cluster';
import { startAttempt, type AttemptOwner } from './endpoint';
import type { Host } from './host';

export class ClusterLevel {
  /** Starts the next attempt of `ex` on its cluster. */
  attempt(ex: Exchange, owner: AttemptOwner): void {
    if (ex.done) return;
    const cluster = ex.cluster!;
    const http2 = cluster.spec.protocol === 'http2' || (cluster.spec.protocol === 'downstream' && ex.http2);
    if (cluster.requestOverflow(http2)) {
      ex.flags |= RF.UpstreamOverflow;
      localReply(ex, 503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', { 'x-envoy-overloaded': 'true' });
      return;
    }
    let host: Host | null;
    if (cluster.spec.lb === 'original_dst') {
      host = originalDstHost(ex, cluster);
    } else {
      const avoid = ex.retry !== null && ex.retry.previousHosts ? ex.triedHosts : null;
      host = cluster.pick(ex.hash, ex.retriesDone, avoid);
    }
    if (host === null) {
      cluster.stats.upstream_cx_none_healthy++;
      ex.flags |= RF.NoHealthyUpstream;
      localReply(ex, 503, 'no healthy upstream', null);
      return;
    }
    if (ex.retry !== null && ex.retry.previousHosts) (ex.triedHosts ??= []).push(host);
    const headers = ex.upstreamHeaders!;
    if (ex.action!.autoHostRewrite) headers.host = host.key;
    if (ex.vhost!.includeAttemptCount) headers['x-envoy-attempt-count'] = String(ex.retriesDone + 1);
    startAttempt(ex, owner, cluster, host, http2, ex.retry !== null ? ex.retry.perTryTimeoutMs : 0);
  }
}

/** The host of an ORIGINAL_DST cluster for this request (the restored destination, or `x-envoy-original-dst-host`). */
export function originalDstHost(ex: Exchange, cluster: UpstreamCluster): Host | null {
  if (cluster.spec.useHttpHeader) {
    const v = ex.headers['x-envoy-original-dst-host'];
    if (typeof v === 'string') {
      const i = v.lastIndexOf(':');
      if (i > 0) return cluster.originalDst(v.slice(0, i).replace(/^\[|\]$/g, ''), Number(v.slice(i + 1)));
    }
  }
  return cluster.originalDst(ex.conn.dstIp, ex.conn.dstPort);
}
