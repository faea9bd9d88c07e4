/**
 * `istio.v1.auth.IstioCertificateService/CreateCertificate`: authenticate the caller by its
 * bearer token, check the requested lifetime, sign the CSR with the caller's SPIFFE ID, answer
 * the chain leaf first and root last. Errors become gRPC statuses here and nowhere else.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CertsError, formatSpiffeId, InvalidTtlError, signCsr, type CertificateRequest, type CertificateResponse, type Issuer } from '@tsmesh/certs';
import { bearerToken, type Authenticator } from './auth/authenticator';
import type { CaMetrics } from './metrics';

/** Lifetimes and identity settings of the service. */
export interface SigningPolicy {
  trustDomain: string;
  /** Lifetime given when the request asks for none (`validity_duration` 0). */
  defaultTtlSeconds: number;
  /** Longest lifetime granted; longer requests are refused with INVALID_ARGUMENT. */
  maxTtlSeconds: number;
}

/** The CreateCertificate logic, independent of the transport. */
export class CertificateService {
  constructor(
    private readonly issuer: Issuer,
    private readonly auth: Authenticator,
    private readonly policy: SigningPolicy,
    private readonly metrics: CaMetrics,
    private readonly log: Logger,
  ) {}

  /** Handles one request; resolves the PEM chain or throws a CertsError. */
  async createCertificate(metadata: grpc.Metadata, req: CertificateRequest): Promise<string[]> {
    const caller = await this.auth.authenticate(bearerToken(metadata));
    const spiffeId = formatSpiffeId({ trustDomain: this.policy.trustDomain, namespace: caller.namespace, serviceAccount: caller.serviceAccount });
    const ttlSeconds = this.ttlFor(Number(req.validity_duration ?? 0));
    const t0 = performance.now();
    const leaf = await signCsr(this.issuer, req.csr, { spiffeId, ttlSeconds });
    this.metrics.observeSigning((performance.now() - t0) / 1000);
    this.log.debug({ spiffeId, ttlSeconds, via: caller.via }, 'issued certificate');
    return [leaf, ...this.issuer.chain];
  }

  /** A gRPC unary handler around createCertificate, mapping errors to statuses and metrics. */
  handler(): grpc.handleUnaryCall<CertificateRequest, CertificateResponse> {
    return (call, callback) => {
      this.metrics.csrRequests++;
      this.createCertificate(call.metadata, call.request).then(
        (chain) => {
          this.metrics.issued++;
          callback(null, { cert_chain: chain });
        },
        (err: unknown) => {
          if (err instanceof CertsError) {
            this.metrics.refuse(err.code);
            this.log.info({ code: err.code, peer: call.getPeer() }, err.message);
            callback({ code: err.grpcCode, details: err.message, metadata: errorMetadata(err.code) });
            return;
          }
          this.metrics.refuse('INTERNAL');
          this.log.error({ err, peer: call.getPeer() }, 'CreateCertificate failed');
          callback({ code: grpc.status.INTERNAL, details: 'internal error while signing' });
        },
      );
    };
  }

  private ttlFor(requested: number): number {
    if (!Number.isFinite(requested) || requested < 0 || !Number.isInteger(requested)) {
      throw new InvalidTtlError(`validity_duration ${requested} is not a non-negative number of seconds`);
    }
    if (requested === 0) return this.policy.defaultTtlSeconds;
    if (requested > this.policy.maxTtlSeconds) {
      throw new InvalidTtlError(`requested ${requested}s is above the maximum of ${this.policy.maxTtlSeconds}s`);
    }
    return requested;
  }
}

function errorMetadata(code: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-tsmesh-error-code', code);
  return md;
}
