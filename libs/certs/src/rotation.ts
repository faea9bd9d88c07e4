/** Rotation timing: when a certificate should be renewed (at half its life by default, with jitter). */
import { parseCertificate } from './certificate';

/** Options for renewAt. */
export interface RenewOptions {
  /** Fraction of the lifetime after which to renew (default 0.5, Istio's half-life). */
  fraction?: number;
  /** Spread as a fraction of the lifetime: the result moves by up to ±jitter·lifetime (default 0). */
  jitter?: number;
  /** Source of randomness in [0, 1) (default Math.random), injectable for tests. */
  random?: () => number;
}

/**
 * The time to renew a certificate (PEM, or its validity window): notBefore + lifetime·fraction,
 * moved by a random amount within ±jitter·lifetime, kept inside the validity window.
 */
export function renewAt(cert: string | { notBefore: Date; notAfter: Date }, opts: RenewOptions = {}): Date {
  const { notBefore, notAfter } = typeof cert === 'string' ? parseCertificate(cert) : cert;
  const start = notBefore.getTime();
  const life = notAfter.getTime() - start;
  const fraction = opts.fraction ?? 0.5;
  const jitter = opts.jitter ?? 0;
  const offset = jitter > 0 ? (2 * (opts.random ?? Math.random)() - 1) * jitter : 0;
  const f = Math.min(1, Math.max(0, fraction + offset));
  return new Date(start + Math.round(life * f));
}
