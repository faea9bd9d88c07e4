/**
 * Service-account tokens as Kubernetes projects them (`serviceAccountToken` volume sources):
 * JWTs signed by a key the runtime holds (ES256), verifiable with the runtime's JWKS file, which
 * the CA is started with (`--jwks`).
 */
import { writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

/** The issuer the runtime puts in `iss` (Kubernetes' default service-account issuer). */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** What a token is for. */
export interface TokenRequest {
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  /** Lifetime in seconds (projected volumes' expirationSeconds; default 3607 as the API server). */
  expirationSeconds?: number;
  /** The pod the token is bound to (`kubernetes.io.pod`). */
  pod?: { name: string; uid: string };
}

/** Issues and signs service-account tokens; publishes its public key as a JWKS. */
export class TokenIssuer {
  private constructor(
    private readonly privateKey: Parameters<SignJWT['sign']>[0],
    private readonly publicJwk: JWK,
    readonly issuer: string,
  ) {}

  /** A fresh ES256 key. */
  static async create(issuer = DEFAULT_ISSUER): Promise<TokenIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    jwk.kid = randomUUID();
    jwk.alg = 'ES256';
    jwk.use = 'sig';
    return new TokenIssuer(privateKey, jwk, issuer);
  }

  /** The JWKS (`{"keys":[…]}`) verifiers load. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  /** Writes the JWKS to `path`. */
  async writeJwks(path: string): Promise<void> {
    await writeFile(path, `${JSON.stringify(this.jwks(), null, 2)}\n`, { mode: 0o644 });
  }

  /** Signs a token with Kubernetes' projected-token claims. */
  async issue(req: TokenRequest): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + Math.max(600, req.expirationSeconds ?? 3607);
    const k8s: Record<string, unknown> = {
      namespace: req.namespace,
      serviceaccount: { name: req.serviceAccount, uid: uidFor(`${req.namespace}/${req.serviceAccount}`) },
    };
    if (req.pod) k8s.pod = { name: req.pod.name, uid: req.pod.uid };
    return new SignJWT({ 'kubernetes.io': k8s })
      .setProtectedHeader({ alg: 'ES256', kid: this.publicJwk.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${req.namespace}:${req.serviceAccount}`)
      .setAudience(req.audiences)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(exp)
      .sign(this.privateKey);
  }
}

/** A stable, UUID-shaped id for a name (service-account uids in tokens). */
export function uidFor(name: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < name.length; i++) {
    h1 = Math.imul(h1 ^ name.charCodeAt(i), 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ name.charCodeAt(i), 0x5bd1e995) >>> 0;
  }
  const hex = (h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')).repeat(2);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
