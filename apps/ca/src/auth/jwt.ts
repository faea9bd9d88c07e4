/**
 * Local-runtime authentication: a service-account JWT signed by a key the runtime holds, verified
 * against the runtime's JWKS file. Claims follow Kubernetes' projected tokens: `sub` is
 * `system:serviceaccount:<ns>:<sa>` and `kubernetes.io` carries `namespace` and `serviceaccount.name`.
 */
import { readFileSync, statSync } from 'node:fs';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { parseServiceAccountUsername } from '@tsmesh/certs';
import type { Authenticator, Caller } from './authenticator';
import { CaConfigError, NotServiceAccountError, TokenExpiredError, TokenInvalidError } from '../errors';

/** Options of the JWT authenticator. */
export interface JwtAuthOptions {
  /** Path of the JWKS file; re-read when it changes (checked at most every 5 s). */
  jwksFile: string;
  /** Called when a changed JWKS file cannot be read; the last good keys stay in use. */
  onReloadError?: (err: Error) => void;
  /** Audiences accepted (`aud` must contain one); Istio's is `istio-ca`. */
  audiences: string[];
  /** Required `iss`, when set. */
  issuer?: string;
}

/** Verifies service-account JWTs against a JWKS file. */
export class JwtAuthenticator implements Authenticator {
  private keys!: ReturnType<typeof createLocalJWKSet>;
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(private readonly opts: JwtAuthOptions) {
    this.reload();
  }

  async authenticate(token: string): Promise<Caller> {
    this.maybeReload();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        audience: this.opts.audiences,
        issuer: this.opts.issuer,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    return { ...identityOf(payload), via: 'jwt' };
  }

  private maybeReload(): void {
    const now = Date.now();
    if (now - this.checkedAt < 5000) return;
    this.checkedAt = now;
    try {
      if (statSync(this.opts.jwksFile).mtimeMs !== this.mtimeMs) this.reload();
    } catch (err) {
      // Keep the last good key set while the file is missing or half-written; report it once per check.
      this.onReloadError(err as Error);
    }
  }

  private onReloadError(err: Error): void {
    this.opts.onReloadError?.(err);
  }

  private reload(): void {
    let jwks: JSONWebKeySet;
    try {
      this.mtimeMs = statSync(this.opts.jwksFile).mtimeMs;
      jwks = JSON.parse(readFileSync(this.opts.jwksFile, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(jwks.keys)) throw new Error('no "keys" array');
      this.keys = createLocalJWKSet(jwks);
    } catch (err) {
      throw new CaConfigError(`--jwks ${this.opts.jwksFile}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** The service account a verified token names; `kubernetes.io` claims and `sub` must agree. */
export function identityOf(payload: JWTPayload): { namespace: string; serviceAccount: string } {
  const sub = typeof payload.sub === 'string' ? payload.sub : '';
  const fromSub = parseServiceAccountUsername(sub);
  if (!fromSub) throw new NotServiceAccountError(sub);
  const k8s = payload['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
  if (k8s && (k8s.namespace !== undefined || k8s.serviceaccount?.name !== undefined)) {
    if (k8s.namespace !== fromSub.namespace || k8s.serviceaccount?.name !== fromSub.serviceAccount) {
      throw new TokenInvalidError(`"kubernetes.io" claims (${String(k8s.namespace)}/${String(k8s.serviceaccount?.name)}) disagree with sub "${sub}"`);
    }
  }
  return fromSub;
}

function mapJoseError(err: unknown): Error {
  if (err instanceof joseErrors.JWTExpired) return new TokenExpiredError(err.message);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenInvalidError('signature does not verify', { cause: err });
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new TokenInvalidError('no key in the JWKS matches the token', { cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) return new TokenInvalidError(`claim "${err.claim}" ${err.reason}: ${err.message}`, { cause: err });
  if (err instanceof joseErrors.JOSEError) return new TokenInvalidError(`${err.code}: ${err.message}`, { cause: err });
  return new TokenInvalidError(`not a JWT (${(err as Error).message})`, { cause: err });
}
