/** Parsing X.509 certificates into the facts the mesh uses (SPIFFE ID, SANs, validity, CA flag). */
import { x509 } from './provider';
import { InvalidCertificateError } from './errors';
import { describePublicKey, type KeyInfo } from './keys';
import { altNamesOf, type AltNames } from './names';
import { derToPem, pemToDer } from './pem';
import { isSpiffeId } from './spiffe';

/** The facts of one certificate. */
export interface CertificateInfo extends AltNames {
  /** The certificate as one normalized PEM block. */
  pem: string;
  serialNumber: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** The first URI SAN that is a workload SPIFFE ID, or null. */
  spiffeId: string | null;
  isCa: boolean;
  key: KeyInfo;
  /** The parsed certificate, for callers that need more. */
  x509: x509.X509Certificate;
}

/** Parses one PEM (or DER) certificate; throws InvalidCertificateError naming `what`. */
export function parseCertificate(input: string | Uint8Array, what = 'certificate'): CertificateInfo {
  let cert: x509.X509Certificate;
  try {
    const der = typeof input === 'string' ? pemToDer(input, 'CERTIFICATE', what) : input;
    cert = new x509.X509Certificate(der);
  } catch (err) {
    throw new InvalidCertificateError(what, (err as Error).message, { cause: err });
  }
  return certificateInfo(cert);
}

/** Facts of an already parsed @peculiar/x509 certificate. */
export function certificateInfo(cert: x509.X509Certificate): CertificateInfo {
  const names = altNamesOf(cert.getExtension(x509.SubjectAlternativeNameExtension));
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  return {
    pem: derToPem(cert.rawData, 'CERTIFICATE'),
    serialNumber: cert.serialNumber,
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    spiffeId: names.uris.find(isSpiffeId) ?? null,
    isCa: bc?.ca === true,
    key: describePublicKey(cert.publicKey.rawData),
    x509: cert,
    ...names,
  };
}
