/** Named errors of libs/certs: each has a stable `code` and a gRPC status for the edge that reports it. */

/** gRPC status codes used when a certificate error reaches a gRPC edge (google.rpc.Code). */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Base class: every certificate error carries a stable code and a gRPC status. */
export class CertsError extends Error {
  readonly code: string;
  readonly grpcCode: number;
  constructor(code: string, message: string, grpcCode: number = GrpcStatus.INVALID_ARGUMENT, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.grpcCode = grpcCode;
  }
}

/** Text that should hold PEM blocks does not (no block, wrong label, bad base64). */
export class InvalidPemError extends CertsError {
  constructor(what: string, reason: string, options?: { cause?: unknown }) {
    super('CERTS_INVALID_PEM', `${what}: ${reason}`, GrpcStatus.INVALID_ARGUMENT, options);
  }
}

/** A certificate signing request cannot be parsed or its self-signature does not verify. */
export class InvalidCsrError extends CertsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CERTS_INVALID_CSR', `certificate signing request: ${reason}`, GrpcStatus.INVALID_ARGUMENT, options);
  }
}

/** A key is of a type or size the mesh does not accept (RSA below 2048 bits, an unknown curve, ...). */
export class UnsupportedKeyError extends CertsError {
  constructor(reason: string) {
    super('CERTS_UNSUPPORTED_KEY', `key: ${reason}`, GrpcStatus.INVALID_ARGUMENT);
  }
}

/** A string is not a SPIFFE ID of the form `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
export class InvalidSpiffeIdError extends CertsError {
  constructor(value: string, reason: string) {
    super('CERTS_INVALID_SPIFFE_ID', `SPIFFE ID "${value}": ${reason}`, GrpcStatus.INVALID_ARGUMENT);
  }
}

/** A certificate cannot be parsed. */
export class InvalidCertificateError extends CertsError {
  constructor(what: string, reason: string, options?: { cause?: unknown }) {
    super('CERTS_INVALID_CERTIFICATE', `${what}: ${reason}`, GrpcStatus.INVALID_ARGUMENT, options);
  }
}

/** A chain does not lead to a trusted root (bad signature, expired, not a CA, unknown issuer). */
export class ChainVerificationError extends CertsError {
  constructor(reason: string) {
    super('CERTS_CHAIN_INVALID', `certificate chain: ${reason}`, GrpcStatus.FAILED_PRECONDITION);
  }
}

/** A requested certificate lifetime is not allowed (not positive, or above the maximum). */
export class InvalidTtlError extends CertsError {
  constructor(reason: string) {
    super('CERTS_INVALID_TTL', `certificate TTL: ${reason}`, GrpcStatus.INVALID_ARGUMENT);
  }
}

/** A CA's private key does not belong to its certificate, or CA files disagree with each other. */
export class CaMaterialError extends CertsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('CERTS_CA_MATERIAL', `CA material: ${reason}`, GrpcStatus.FAILED_PRECONDITION, options);
  }
}

/** A CSR asks for an identity other than the one its caller authenticated as. */
export class IdentityMismatchError extends CertsError {
  constructor(reason: string) {
    super('CERTS_IDENTITY_MISMATCH', `identity: ${reason}`, GrpcStatus.PERMISSION_DENIED);
  }
}
