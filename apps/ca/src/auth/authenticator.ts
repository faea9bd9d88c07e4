/** Who is calling: the Kubernetes service account proven by the caller's bearer token. */
import type * as grpc from '@grpc/grpc-js';
import { TokenMissingError } from '../errors';

/** An authenticated caller. */
export interface Caller {
  namespace: string;
  serviceAccount: string;
  /** How the token was checked (`jwt` or `tokenreview`), for logs. */
  via: string;
}

/** Turns a bearer token into a caller or throws a CaError with gRPC status UNAUTHENTICATED/UNAVAILABLE. */
export interface Authenticator {
  authenticate(token: string): Promise<Caller>;
}

/** Reads the bearer token from gRPC metadata (`authorization: Bearer <token>`, as Istio's agent sends). */
export function bearerToken(md: grpc.Metadata): string {
  for (const v of md.get('authorization')) {
    const s = String(v);
    const m = /^Bearer\s+(\S+)\s*$/i.exec(s);
    if (m) return m[1];
  }
  throw new TokenMissingError();
}
