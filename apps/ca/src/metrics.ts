/**
 * The CA's Prometheus metrics: Istio's `citadel_server_*` names where Istio has one, plus
 * `tsmesh_ca_*` for refusals by reason and the signing latency histogram.
 */

import { Registry, registerProcessMetrics } from '@tsmesh/telemetry/metrics';

/** Upper bounds (seconds) of the signing latency histogram. */
export const SIGNING_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Counters, a histogram and two gauges, rendered as Prometheus text. */
export class CaMetrics {
  csrRequests = 0;
  issued = 0;
  authFailures = 0;
  csrParseErrors = 0;
  signErrors = 0;
  private readonly refused = new Map<string, number>();
  private readonly buckets = new Array<number>(SIGNING_BUCKETS.length).fill(0);
  private sigCount = 0;
  private sigSum = 0;
  /** Expiry (Unix seconds) of the root and of the signing certificate. */
  rootExpiry = 0;
  chainExpiry = 0;
  private readonly process = new Registry();

  constructor() {
    registerProcessMetrics(this.process);
  }

  /** Records one signature's duration in seconds. */
  observeSigning(seconds: number): void {
    this.sigCount++;
    this.sigSum += seconds;
    for (let i = 0; i < SIGNING_BUCKETS.length; i++) if (seconds <= SIGNING_BUCKETS[i]) this.buckets[i]++;
  }

  /** Records a refused request under its error code (e.g. `CA_TOKEN_EXPIRED`, `CERTS_IDENTITY_MISMATCH`). */
  refuse(reason: string): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
    if (reason.startsWith('CA_TOKEN') || reason === 'CA_NOT_SERVICE_ACCOUNT') this.authFailures++;
    else if (reason === 'CERTS_INVALID_CSR' || reason === 'CERTS_UNSUPPORTED_KEY' || reason === 'CERTS_INVALID_PEM') this.csrParseErrors++;
    else this.signErrors++;
  }

  /** Number of refusals recorded for `reason`. */
  refusedCount(reason: string): number {
    return this.refused.get(reason) ?? 0;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    const counter = (name: string, help: string, value: number) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    const gauge = (name: string, help: string, value: number) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    counter('citadel_server_csr_count', 'The number of CSRs received by the CA.', this.csrRequests);
    counter('citadel_server_success_cert_issuance_count', 'The number of certificates issued.', this.issued);
    counter('citadel_server_authentication_failure_count', 'The number of requests that failed authentication.', this.authFailures);
    counter('citadel_server_csr_parsing_err_count', 'The number of CSRs that could not be parsed or carry a refused key.', this.csrParseErrors);
    counter('citadel_server_csr_sign_err_count', 'The number of CSRs refused at signing (identity, TTL).', this.signErrors);
    gauge('citadel_server_root_cert_expiry_timestamp', 'Unix time at which the root certificate expires.', this.rootExpiry);
    gauge('citadel_server_cert_chain_expiry_timestamp', 'Unix time at which the signing certificate expires.', this.chainExpiry);
    counter('tsmesh_ca_certs_issued_total', 'Workload certificates issued.', this.issued);
    out.push('# HELP tsmesh_ca_requests_refused_total Requests refused, by reason (error code).', '# TYPE tsmesh_ca_requests_refused_total counter');
    for (const [reason, n] of [...this.refused].sort()) out.push(`tsmesh_ca_requests_refused_total{reason="${reason}"} ${n}`);
    out.push('# HELP tsmesh_ca_signing_duration_seconds Time to verify a CSR and sign its certificate.', '# TYPE tsmesh_ca_signing_duration_seconds histogram');
    SIGNING_BUCKETS.forEach((le, i) => out.push(`tsmesh_ca_signing_duration_seconds_bucket{le="${le}"} ${this.buckets[i]}`));
    out.push(`tsmesh_ca_signing_duration_seconds_bucket{le="+Inf"} ${this.sigCount}`);
    out.push(`tsmesh_ca_signing_duration_seconds_sum ${this.sigSum}`, `tsmesh_ca_signing_duration_seconds_count ${this.sigCount}`);
    return out.join('\n') + '\n' + this.process.expose();
  }
}
