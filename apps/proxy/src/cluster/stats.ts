/** Per-cluster counters, named as Envoy names them under `cluster.<name>.`. */
export class ClusterStats {
  upstream_rq_total = 0;
  upstream_rq_completed = 0;
  upstream_rq_1xx = 0;
  upstream_rq_2xx = 0;
  upstream_rq_3xx = 0;
  upstream_rq_4xx = 0;
  upstream_rq_5xx = 0;
  upstream_rq_retry = 0;
  upstream_rq_retry_success = 0;
  upstream_rq_retry_overflow = 0;
  upstream_rq_pending_overflow = 0;
  upstream_rq_timeout = 0;
  upstream_rq_per_try_timeout = 0;
  upstream_rq_rx_reset = 0;
  upstream_cx_connect_fail = 0;
  upstream_cx_overflow = 0;
  upstream_cx_total = 0;
  upstream_cx_none_healthy = 0;
  upstream_rq_mirrored = 0;
  outlier_detection_ejections_enforced_total = 0;
  outlier_detection_ejections_enforced_consecutive_5xx = 0;
  outlier_detection_ejections_enforced_consecutive_gateway_failure = 0;

  /** Counts a completed upstream response by class. */
  status(code: number): void {
    this.upstream_rq_completed++;
    if (code < 200) this.upstream_rq_1xx++;
    else if (code < 300) this.upstream_rq_2xx++;
    else if (code < 400) this.upstream_rq_3xx++;
    else if (code < 500) this.upstream_rq_4xx++;
    else this.upstream_rq_5xx++;
  }
}
