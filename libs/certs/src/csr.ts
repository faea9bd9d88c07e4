/** PKCS#10 certificate signing requests carrying a SPIFFE URI SAN: create, parse, verify. */
import { x509 } from './provider';
import { InvalidCsrError, InvalidPemError } from './errors';
import { assertKeyStrength, describePublicKey, signingAlgorithmFor, type KeyInfo, type KeyPair } from './keys';
import { altNamesExtension, altNamesOf, type AltNames } from './names';
import { parsePemBlocks } from './pem';

/** What to put in a CSR. */
export interface CsrOptions {
  /** The SPIFFE ID to ask for, as a URI SAN. */
  spiffeId?: string;
  /** DNS SANs to ask for. */
  dnsNames?: string[];
  /** Subject DN, e.g. `O=cluster.local`; empty by default, as Istio's agent sends. */
  subject?: string;
}

/** A parsed CSR whose self-signature verified. */
export interface ParsedCsr extends AltNames {
  subject: string;
  key: KeyInfo;
  /** SPKI DER of the requested public key. */
  publicKeyDer: ArrayBuffer;
}

/** Creates a PEM CSR signed by `keys`, with the SPIFFE ID and DNS names as SANs. */
export async function createCsr(keys: KeyPair, opts: CsrOptions = {}): Promise<string> {
  const san = altNamesExtension({ uris: opts.spiffeId ? [opts.spiffeId] : [], dnsNames: opts.dnsNames ?? [] }, !opts.subject);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: opts.subject ?? '',
    keys,
    signingAlgorithm: signingAlgorithmFor(keys.privateKey),
    extensions: san ? [san] : [],
  });
  return csr.toString('pem') + '\n';
}

/**
 * Parses a PEM CSR, checks its key (EC P-256/P-384 or RSA 2048+) and its self-signature.
 * Throws InvalidCsrError for anything that is not a well-formed, self-consistent CSR and
 * UnsupportedKeyError for a weak or unknown key.
 */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  if (typeof pem !== 'string' || pem.trim() === '') throw new InvalidCsrError('empty');
  let der: Buffer;
  try {
    const block = parsePemBlocks(pem, 'CSR').find((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
    if (!block) throw new InvalidCsrError('no "CERTIFICATE REQUEST" PEM block');
    der = block.der;
  } catch (err) {
    if (err instanceof InvalidPemError) throw new InvalidCsrError(err.message, { cause: err });
    throw err;
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (err) {
    throw new InvalidCsrError(`not a PKCS#10 structure (${(err as Error).message})`, { cause: err });
  }
  const publicKeyDer = csr.publicKey.rawData;
  const key = describePublicKey(publicKeyDer);
  assertKeyStrength(key);
  let names: AltNames;
  try {
    names = altNamesOf(csr.getExtension('2.5.29.17') as x509.SubjectAlternativeNameExtension | null);
  } catch (err) {
    throw new InvalidCsrError(`subject alternative names cannot be read (${(err as Error).message})`, { cause: err });
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (err) {
    throw new InvalidCsrError(`signature cannot be checked (${(err as Error).message})`, { cause: err });
  }
  if (!ok) throw new InvalidCsrError('signature does not match its public key');
  return { subject: csr.subject, key, publicKeyDer, ...names };
}
