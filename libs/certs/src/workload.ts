/** One-call creation of a workload or serving certificate with its key, for tests and bootstrapping. */
import { parseCertificate } from './certificate';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from './keys';
import { issueLeafCertificate } from './issue';
import type { Issuer } from './issuer';
import { joinPem } from './pem';
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId } from './spiffe';

/** What certificate to create. */
export interface WorkloadCertOptions {
  /** A SPIFFE ID, or the namespace and service account to build one from. */
  identity?: string | { namespace: string; serviceAccount: string; trustDomain?: string };
  dnsNames?: string[];
  ipAddresses?: string[];
  ttlSeconds?: number;
  keyType?: KeyType;
  now?: Date;
}

/** A certificate with its private key, chain and trust bundle, all PEM: what a TLS endpoint loads. */
export interface WorkloadCert {
  /** SPIFFE ID in the certificate, or null for a DNS-only serving certificate. */
  spiffeId: string | null;
  keyPem: string;
  certPem: string;
  /** Leaf first, then each CA, root last (Istio's `cert_chain` order). */
  chainPem: string;
  /** The root that anchors the chain (the `ROOTCA` trust bundle). */
  rootPem: string;
  notAfter: Date;
}

/** Generates a key and issues a leaf for it from `issuer` (a SPIFFE workload cert, a DNS serving cert, or both). */
export async function createWorkloadCert(issuer: Issuer, opts: WorkloadCertOptions = {}): Promise<WorkloadCert> {
  const spiffeId = opts.identity === undefined
    ? null
    : typeof opts.identity === 'string'
      ? opts.identity
      : formatSpiffeId({ trustDomain: opts.identity.trustDomain ?? DEFAULT_TRUST_DOMAIN, namespace: opts.identity.namespace, serviceAccount: opts.identity.serviceAccount });
  const keys = await generateKeyPair(opts.keyType);
  const certPem = await issueLeafCertificate(issuer, {
    publicKey: keys.publicKey,
    spiffeId: spiffeId ?? undefined,
    dnsNames: opts.dnsNames,
    ipAddresses: opts.ipAddresses,
    ttlSeconds: opts.ttlSeconds,
    subject: spiffeId ? '' : `CN=${opts.dnsNames?.[0] ?? 'localhost'}`,
    now: opts.now,
  });
  return {
    spiffeId,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    certPem,
    chainPem: joinPem([certPem, ...issuer.chain]),
    rootPem: issuer.rootPem,
    notAfter: parseCertificate(certPem).notAfter,
  };
}
