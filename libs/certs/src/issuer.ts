/** A signing CA: its certificate, private key and chain up to the root, ready to sign. */
import type { Algorithm } from './webcrypto-types';
import { crypto, x509 } from './provider';
import { CaMaterialError } from './errors';
import { certificateInfo, parseCertificate, type CertificateInfo } from './certificate';
import { exportPrivateKeyPem, importPrivateKeyPem, signingAlgorithmFor, type KeyPair } from './keys';
import { joinPem, splitPemCertificates } from './pem';

/** A CA that can sign: everything precomputed once so each signature costs one key operation. */
export interface Issuer {
  /** The signing certificate. */
  cert: CertificateInfo;
  keys: KeyPair;
  /** The signing certificate first, then each issuer, the root last (PEM each). */
  chain: readonly string[];
  /** The root certificate (last of `chain`). */
  rootPem: string;
  /** Hex subject key identifier of the signing certificate (becomes the leaf's authority key id). */
  keyId: string;
  signingAlgorithm: Algorithm;
}

/** Inputs to load an issuer from PEM files (Istio's `cacerts` layout, or a persisted root). */
export interface IssuerPem {
  /** `ca-cert.pem`: the signing certificate. */
  certPem: string;
  /** `ca-key.pem`: its private key. */
  keyPem: string;
  /** `cert-chain.pem`: the chain from the signing certificate (or its issuer) up to the root; omit for a root. */
  chainPem?: string;
  /** `root-cert.pem`: the root; omit when the chain ends in it or the cert is the root. */
  rootPem?: string;
}

/** Builds an Issuer from a parsed certificate and its key pair (used right after generating a CA). */
export async function issuerFrom(cert: x509.X509Certificate, keys: KeyPair, chainAbove: readonly string[] = []): Promise<Issuer> {
  const info = certificateInfo(cert);
  const chain = [info.pem, ...chainAbove];
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
  return { cert: info, keys, chain, rootPem: chain[chain.length - 1], keyId, signingAlgorithm: signingAlgorithmFor(keys.privateKey) };
}

/**
 * Loads an issuer from PEM text. Checks that the key belongs to the certificate, that the
 * certificate is a CA, and orders the chain leaf-to-root with the root last. Chain signatures
 * are checked by `verifyChain` at the caller's choice.
 */
export async function loadIssuer(input: IssuerPem): Promise<Issuer> {
  const cert = parseCertificate(input.certPem, 'CA certificate');
  if (!cert.isCa) throw new CaMaterialError(`certificate "${cert.subject}" is not a CA (basicConstraints CA:TRUE missing)`);
  const keys = await importPrivateKeyPem(input.keyPem, 'CA private key');
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  if (!spki.equals(Buffer.from(cert.x509.publicKey.rawData))) {
    throw new CaMaterialError(`private key does not belong to certificate "${cert.subject}"`);
  }
  let above = input.chainPem ? splitPemCertificates(input.chainPem, 'CA certificate chain') : [];
  if (above[0] === cert.pem) above = above.slice(1);
  const root = input.rootPem ? splitPemCertificates(input.rootPem, 'root certificate')[0] : undefined;
  if (root && above[above.length - 1] !== root && cert.pem !== root) above.push(root);
  const issuer = await issuerFrom(cert.x509, keys, above);
  if (root && issuer.rootPem !== root) throw new CaMaterialError('root certificate does not end the chain');
  return issuer;
}

/** PEM files of an issuer, in Istio's `cacerts` layout. */
export async function issuerToPem(issuer: Issuer): Promise<{ 'ca-cert.pem': string; 'ca-key.pem': string; 'cert-chain.pem': string; 'root-cert.pem': string }> {
  return {
    'ca-cert.pem': issuer.cert.pem,
    'ca-key.pem': await exportPrivateKeyPem(issuer.keys.privateKey),
    'cert-chain.pem': joinPem(issuer.chain),
    'root-cert.pem': issuer.rootPem,
  };
}
