/** Named errors of libs/xds: each has a stable `code` and maps to a gRPC status at the edge. */

/** gRPC status codes used by the xDS server and client (google.rpc.Code). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** Base class: every xDS error carries a stable code and a gRPC status. */
export class XdsError extends Error {
  readonly code: string;
  readonly grpcCode: number;
  constructor(code: string, message: string, grpcCode: number = GrpcCode.INVALID_ARGUMENT, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.grpcCode = grpcCode;
  }
}

/** A resource could not be encoded or decoded as its Envoy message type. */
export class ResourceEncodingError extends XdsError {
  constructor(typeUrl: string, name: string, reason: string, options?: { cause?: unknown }) {
    super('XDS_RESOURCE_ENCODING', `${shortType(typeUrl)} resource "${name}": ${reason}`, GrpcCode.INVALID_ARGUMENT, options);
  }
}

/** A snapshot references a resource it does not contain (an RDS name from a listener, an EDS name from a cluster). */
export class SnapshotInconsistentError extends XdsError {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super('XDS_SNAPSHOT_INCONSISTENT', `snapshot is inconsistent: ${problems.join('; ')}`, GrpcCode.FAILED_PRECONDITION);
    this.problems = problems;
  }
}

/** A discovery request broke the protocol (no node on the first request, unknown type URL, ...). */
export class ProtocolError extends XdsError {
  constructor(reason: string) {
    super('XDS_PROTOCOL', reason, GrpcCode.INVALID_ARGUMENT);
  }
}

/** A client-side rejection of a pushed update; becomes the `error_detail` of a NACK. */
export class ResourceRejectedError extends XdsError {
  constructor(typeUrl: string, name: string | undefined, reason: string, options?: { cause?: unknown }) {
    super('XDS_RESOURCE_REJECTED', name ? `${shortType(typeUrl)} resource "${name}": ${reason}` : `${shortType(typeUrl)}: ${reason}`, GrpcCode.INVALID_ARGUMENT, options);
  }
}

function shortType(typeUrl: string): string {
  const s = typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
  return s || typeUrl;
}
