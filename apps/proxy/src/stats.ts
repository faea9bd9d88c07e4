/** Proxy-wide counters (listener and HTTP connection manager), named as Envoy names them. */

/** Counters of one HTTP connection manager (`http.<stat_prefix>.`). */
export class HttpStats {
  downstream_rq_total = 0;
  downstream_rq_active = 0;
  downstream_rq_1xx = 0;
  downstream_rq_2xx = 0;
  downstream_rq_3xx = 0;
  downstream_rq_4xx = 0;
  downstream_rq_5xx = 0;
  downstream_rq_timeout = 0;
  downstream_cx_total = 0;
  downstream_cx_http1_total = 0;
  downstream_cx_http2_total = 0;
  downstream_cx_upgrades_total = 0;
  /** Upgrade or CONNECT requests refused because the route does not enable them. */
  upgrades_refused = 0;
  no_route = 0;
  no_cluster = 0;
  rq_redirect = 0;
  rq_direct_response = 0;
  fault_delays_injected = 0;
  fault_aborts_injected = 0;

  status(code: number): void {
    if (code < 200) this.downstream_rq_1xx++;
    else if (code < 300) this.downstream_rq_2xx++;
    else if (code < 400) this.downstream_rq_3xx++;
    else if (code < 500) this.downstream_rq_4xx++;
    else this.downstream_rq_5xx++;
  }
}

/** Counters of one listener (`listener.<name>.`). */
export class ListenerStats {
  downstream_cx_total = 0;
  downstream_cx_active = 0;
  downstream_cx_destroy = 0;
  no_filter_chain_match = 0;
  original_dst_lookup_failed = 0;
}

/** Counters of one TCP proxy (`tcp.<stat_prefix>.`). */
export class TcpStats {
  downstream_cx_total = 0;
  upstream_flush_total = 0;
  downstream_cx_no_route = 0;
  upstream_cx_connect_fail = 0;
}

/** All proxy-wide counters. */
export class Stats {
  readonly http = new Map<string, HttpStats>();
  readonly listeners = new Map<string, ListenerStats>();
  readonly tcp = new Map<string, TcpStats>();

  httpFor(prefix: string): HttpStats {
    let s = this.http.get(prefix);
    if (!s) this.http.set(prefix, (s = new HttpStats()));
    return s;
  }
  listenerFor(name: string): ListenerStats {
    let s = this.listeners.get(name);
    if (!s) this.listeners.set(name, (s = new ListenerStats()));
    return s;
  }
  tcpFor(prefix: string): TcpStats {
    let s = this.tcp.get(prefix);
    if (!s) this.tcp.set(prefix, (s = new TcpStats()));
    return s;
  }
}
