/** Chain verification: leaf → intermediates → a trusted root, checking signatures, validity and CA flags. */
import { ChainVerificationError } from './errors';
import { parseCertificate, type CertificateInfo } from './certificate';
import { splitPemCertificates } from './pem';

/** Options for verifyChain. */
export interface VerifyOptions {
  /** The time to check validity at (default now). */
  at?: Date;
  /** Longest path accepted, leaf and root included (default 8). */
  maxDepth?: number;
}

/**
 * Verifies that the first certificate of `chain` (PEM bundle or list) leads to one of `roots`
 * through the other certificates of `chain`. Returns the path leaf-first, root last. Throws
 * ChainVerificationError naming the certificate and the reason.
 */
export async function verifyChain(chain: string | readonly string[], roots: string | readonly string[], opts: VerifyOptions = {}): Promise<CertificateInfo[]> {
  const chainPems = typeof chain === 'string' ? splitPemCertificates(chain, 'certificate chain') : chain;
  const rootPems = typeof roots === 'string' ? splitPemCertificates(roots, 'trust bundle') : roots;
  if (chainPems.length === 0) throw new ChainVerificationError('empty chain');
  if (rootPems.length === 0) throw new ChainVerificationError('no trusted root');
  const certs = chainPems.map((p, i) => parseCertificate(p, `chain certificate #${i + 1}`));
  const trusted = rootPems.map((p, i) => parseCertificate(p, `root certificate #${i + 1}`));
  const at = opts.at ?? new Date();
  const maxDepth = opts.maxDepth ?? 8;

  let current = certs[0];
  const path: CertificateInfo[] = [current];
  const pool = certs.slice(1);
  for (;;) {
    checkValidity(current, at);
    if (trusted.some((r) => r.pem === current.pem)) return path;
    const root = await findIssuer(current, trusted);
    if (root) {
      checkIssuerCert(root, at);
      path.push(root);
      return path;
    }
    const next = await findIssuer(current, pool);
    if (!next && current.subject === current.issuer) throw new ChainVerificationError(`chain ends at root "${describe(current)}", which is not a trusted root`);
    if (!next) throw new ChainVerificationError(`no trusted issuer found for "${describe(current)}" (issuer "${current.issuer}")`);
    checkIssuerCert(next, at);
    path.push(next);
    if (path.length >= maxDepth) throw new ChainVerificationError(`longer than ${maxDepth} certificates`);
    pool.splice(pool.indexOf(next), 1);
    current = next;
  }
}

async function findIssuer(cert: CertificateInfo, candidates: readonly CertificateInfo[]): Promise<CertificateInfo | undefined> {
  for (const c of candidates) {
    if (c.subject !== cert.issuer) continue;
    if (await cert.x509.verify({ publicKey: c.x509.publicKey, signatureOnly: true })) return c;
  }
  return undefined;
}

function checkValidity(cert: CertificateInfo, at: Date): void {
  if (at < cert.notBefore) throw new ChainVerificationError(`"${describe(cert)}" is not valid before ${cert.notBefore.toISOString()}`);
  if (at > cert.notAfter) throw new ChainVerificationError(`"${describe(cert)}" expired at ${cert.notAfter.toISOString()}`);
}

function checkIssuerCert(cert: CertificateInfo, at: Date): void {
  checkValidity(cert, at);
  if (!cert.isCa) throw new ChainVerificationError(`issuer "${describe(cert)}" is not a CA`);
}

function describe(cert: CertificateInfo): string {
  return cert.spiffeId ?? (cert.subject || cert.dnsNames[0] || `serial ${cert.serialNumber}`);
}
