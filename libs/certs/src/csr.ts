/** PKCS#10 certificate signing requests carrying a SPIFFE URI SAN: create, parse, verify. */
import { x509 } from './provider';
import { CertsError, InvalidCsrError, InvalidPemError } from './errors';
import { assertKeyStrength, describePublicKey, signingAlgorithmFor, type KeyInfo, type KeyPair } from './keys';
import { altNamesExtension, altNamesOf, type AltNames } from './names';
import { parsePemBlocks } from './pem';
import { contentOf, derProblem, ecdsaSignatureProblem, topLevelOffsets, topLevelTags } from './der';

/** `signatureAlgorithm` of a CSR, DER hex: ecdsa-with-SHA256/384/512, sha256/384/512WithRSAEncryption (NULL or absent parameters). */
const SIGNATURE_ALGORITHMS = new Set([
  '300a06082a8648ce3d040302', '300a06082a8648ce3d040303', '300a06082a8648ce3d040304',
  '300d06092a864886f70d01010b0500', '300d06092a864886f70d01010c0500', '300d06092a864886f70d01010d0500',
  '300b06092a864886f70d01010b', '300b06092a864886f70d01010c', '300b06092a864886f70d01010d',
]);

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
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE, signatureAlgorithm SEQUENCE, signature BIT STRING }, in strict DER.
  const strict = derProblem(der);
  if (strict) throw new InvalidCsrError(`not DER (${strict})`);
  const shape = topLevelTags(der);
  if (der[0] !== 0x30 || shape.length !== 3 || shape[0] !== 0x30 || shape[1] !== 0x30 || shape[2] !== 0x03) {
    throw new InvalidCsrError('not a PKCS#10 structure (want SEQUENCE { info, algorithm, BIT STRING signature })');
  }
  const [, algAt, sigAt] = topLevelOffsets(der);
  const alg = Buffer.from(der.subarray(algAt, sigAt)).toString('hex');
  if (!SIGNATURE_ALGORITHMS.has(alg)) throw new InvalidCsrError('signature algorithm is not ECDSA or RSA PKCS#1 v1.5 with SHA-256/384/512 in its standard encoding');
  const sigBits = contentOf(der, sigAt)!;
  if (sigBits[0] !== 0) throw new InvalidCsrError('signature BIT STRING has unused bits');
  if (alg.includes('2a8648ce3d0403')) {
    const bad = ecdsaSignatureProblem(sigBits.subarray(1));
    if (bad) throw new InvalidCsrError(`ECDSA signature is not DER (${bad})`);
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (err) {
    throw new InvalidCsrError(`not a PKCS#10 structure (${(err as Error).message})`, { cause: err });
  }
  let publicKeyDer: ArrayBuffer;
  let key: KeyInfo;
  try {
    publicKeyDer = csr.publicKey.rawData;
    key = describePublicKey(publicKeyDer);
  } catch (err) {
    // A malformed key inside a well-formed request (an RSA modulus that is not an INTEGER...).
    if (err instanceof CertsError) throw err;
    throw new InvalidCsrError(`public key cannot be read (${(err as Error).message})`, { cause: err });
  }
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
