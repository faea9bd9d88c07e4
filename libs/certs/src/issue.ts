/** Issuing certificates: self-signed roots, intermediates, and workload or serving leaves. */
import type { CryptoKey } from './webcrypto-types';
import { randomBytes } from 'node:crypto';
import { crypto, x509 } from './provider';
import { IdentityMismatchError, InvalidTtlError } from './errors';
import { generateKeyPair, signingAlgorithmFor, type KeyType } from './keys';
import { altNamesExtension } from './names';
import { parseCsr } from './csr';
import { issuerFrom, type Issuer } from './issuer';

/** Ten years, Istio's default lifetime for a self-signed root. */
export const DEFAULT_ROOT_TTL_SECONDS = 10 * 365 * 24 * 3600;
/** Twenty-four hours, the mesh's default workload certificate lifetime. */
export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;
/** Leaves are valid from this many seconds in the past, to absorb clock skew between machines. */
export const CLOCK_SKEW_SECONDS = 60;

/** Options for a CA certificate. */
export interface CaOptions {
  /** Subject DN; Istio's self-signed root is `O=<trust domain>`. */
  subject?: string;
  ttlSeconds?: number;
  keyType?: KeyType;
  /** For intermediates: how many CAs may follow (default 0). */
  pathLength?: number;
  now?: Date;
}

/** Options for a leaf certificate. */
export interface LeafOptions {
  /** The public key to certify (a WebCrypto key or SPKI DER). */
  publicKey: CryptoKey | ArrayBuffer;
  /** SPIFFE ID put in the URI SAN. */
  spiffeId?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Lifetime in seconds (default 24 h); cut to the issuer's own expiry. */
  ttlSeconds?: number;
  /** Subject DN; empty by default (the identity is in the SAN, marked critical). */
  subject?: string;
  now?: Date;
}

const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;
const LEAF_USAGES = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;

/** Creates a self-signed root CA (ECDSA P-256, 10 years, `O=cluster.local` unless told otherwise). */
export async function createRootCa(opts: CaOptions = {}): Promise<Issuer> {
  const keys = await generateKeyPair(opts.keyType);
  const now = opts.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: opts.subject ?? 'O=cluster.local',
    keys,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_SECONDS * 1000),
    notAfter: new Date(now.getTime() + (opts.ttlSeconds ?? DEFAULT_ROOT_TTL_SECONDS) * 1000),
    signingAlgorithm: signingAlgorithmFor(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, opts.pathLength, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return issuerFrom(cert, keys);
}

/** Creates an intermediate CA signed by `parent` (path length 0 unless told otherwise). */
export async function issueIntermediateCa(parent: Issuer, opts: CaOptions = {}): Promise<Issuer> {
  const keys = await generateKeyPair(opts.keyType);
  const now = opts.now ?? new Date();
  const notAfter = clampToIssuer(parent, now, opts.ttlSeconds ?? DEFAULT_ROOT_TTL_SECONDS / 2);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: opts.subject ?? 'O=cluster.local, CN=Intermediate CA',
    issuer: parent.cert.x509.subjectName,
    publicKey: keys.publicKey,
    signingKey: parent.keys.privateKey,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_SECONDS * 1000),
    notAfter,
    signingAlgorithm: parent.signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, opts.pathLength ?? 0, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(parent.keyId),
    ],
  });
  return issuerFrom(cert, keys, parent.chain);
}

/**
 * Issues a leaf certificate for `publicKey`: key usage digitalSignature + keyEncipherment,
 * extended key usage serverAuth + clientAuth, CA:FALSE, the SANs given. Returns the PEM.
 */
export async function issueLeafCertificate(issuer: Issuer, opts: LeafOptions): Promise<string> {
  const ttl = opts.ttlSeconds ?? DEFAULT_WORKLOAD_TTL_SECONDS;
  if (!(ttl > 0) || !Number.isFinite(ttl)) throw new InvalidTtlError(`${ttl} seconds is not a positive duration`);
  const now = opts.now ?? new Date();
  const subject = opts.subject ?? '';
  const san = altNamesExtension({ uris: opts.spiffeId ? [opts.spiffeId] : [], dnsNames: opts.dnsNames, ipAddresses: opts.ipAddresses }, subject === '');
  const extensions = [...leafExtensions(issuer)];
  if (san) extensions.push(san);
  const publicKey = opts.publicKey instanceof ArrayBuffer ? opts.publicKey : await crypto.subtle.exportKey('spki', opts.publicKey);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer.cert.x509.subjectName,
    publicKey,
    signingKey: issuer.keys.privateKey,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_SECONDS * 1000),
    notAfter: clampToIssuer(issuer, now, ttl),
    signingAlgorithm: issuer.signingAlgorithm,
    extensions,
  });
  return cert.toString('pem') + '\n';
}

/** How a CSR is signed: the identity comes from the authenticated caller, never from the CSR. */
export interface SignCsrOptions {
  /** The caller's SPIFFE ID; the CSR may ask for it or for nothing, never for another URI. */
  spiffeId: string;
  ttlSeconds?: number;
  /** Extra DNS names to allow (a CSR's DNS SANs outside this list are refused). */
  allowedDnsNames?: string[];
  now?: Date;
}

/**
 * Verifies a PEM CSR and issues a workload certificate for its key with the caller's identity.
 * Throws InvalidCsrError, UnsupportedKeyError, or IdentityMismatchError when the CSR asks for a
 * URI or DNS name the caller does not own.
 */
export async function signCsr(issuer: Issuer, csrPem: string, opts: SignCsrOptions): Promise<string> {
  const csr = await parseCsr(csrPem);
  for (const uri of csr.uris) {
    if (uri !== opts.spiffeId) throw new IdentityMismatchError(`CSR asks for "${uri}" but the caller is "${opts.spiffeId}"`);
  }
  const allowedDns = opts.allowedDnsNames ?? [];
  for (const dns of csr.dnsNames) {
    if (!allowedDns.includes(dns)) throw new IdentityMismatchError(`CSR asks for DNS name "${dns}", which "${opts.spiffeId}" does not own`);
  }
  if (csr.ipAddresses.length > 0) throw new IdentityMismatchError(`CSR asks for IP address "${csr.ipAddresses[0]}"; workload certificates carry none`);
  return issueLeafCertificate(issuer, {
    publicKey: csr.publicKeyDer,
    spiffeId: opts.spiffeId,
    dnsNames: csr.dnsNames,
    ttlSeconds: opts.ttlSeconds,
    now: opts.now,
  });
}

// The extensions every leaf of an issuer shares, encoded once per issuer.
const leafExtensionCache = new WeakMap<Issuer, readonly x509.Extension[]>();
function leafExtensions(issuer: Issuer): readonly x509.Extension[] {
  let exts = leafExtensionCache.get(issuer);
  if (!exts) {
    exts = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(LEAF_USAGES, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
    ];
    leafExtensionCache.set(issuer, exts);
  }
  return exts;
}

function clampToIssuer(issuer: Issuer, now: Date, ttlSeconds: number): Date {
  const wanted = now.getTime() + ttlSeconds * 1000;
  return new Date(Math.min(wanted, issuer.cert.notAfter.getTime()));
}


// 16 random bytes with the top bit clear: a positive serial within RFC 5280's 20 octets.
function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}
