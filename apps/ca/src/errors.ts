/** Named errors of apps/ca: each has a stable `code` and a gRPC status; libs/certs errors pass through unchanged. */
import { CertsError, GrpcStatus } from '@tsmesh/certs';

/** Base class of the CA's own errors. */
export class CaError extends CertsError {}

/** The call carries no `authorization: Bearer <token>` metadata. */
export class TokenMissingError extends CaError {
  constructor() {
    super('CA_TOKEN_MISSING', 'authentication: no bearer token in the "authorization" metadata', GrpcStatus.UNAUTHENTICATED);
  }
}

/** The token is not valid: bad signature, unknown key, wrong audience, malformed, or refused by TokenReview. */
export class TokenInvalidError extends CaError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CA_TOKEN_INVALID', `authentication: ${reason}`, GrpcStatus.UNAUTHENTICATED, options);
  }
}

/** The token's `exp` has passed. */
export class TokenExpiredError extends CaError {
  constructor(reason: string) {
    super('CA_TOKEN_EXPIRED', `authentication: token expired (${reason})`, GrpcStatus.UNAUTHENTICATED);
  }
}

/** The token is valid but does not name a Kubernetes service account. */
export class NotServiceAccountError extends CaError {
  constructor(subject: string) {
    super('CA_NOT_SERVICE_ACCOUNT', `authentication: "${subject}" is not a service account (want system:serviceaccount:<ns>:<sa>)`, GrpcStatus.UNAUTHENTICATED);
  }
}

/** The Kubernetes API could not be asked (TokenReview failed in transport, not in verdict). */
export class TokenReviewUnavailableError extends CaError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CA_TOKEN_REVIEW_UNAVAILABLE', `authentication: TokenReview failed: ${reason}`, GrpcStatus.UNAVAILABLE, options);
  }
}

/** A flag or file the CA was started with is wrong; the message names it. */
export class CaConfigError extends CaError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CA_CONFIG', reason, GrpcStatus.FAILED_PRECONDITION, options);
  }
}
