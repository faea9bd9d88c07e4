/** Key pairs: generate (ECDSA P-256 by default, RSA 2048+ accepted), import and export PEM, check strength. */
import type { Algorithm, CryptoKey } from './webcrypto-types';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { crypto } from './provider';
import { InvalidPemError, UnsupportedKeyError } from './errors';
import { derToPem } from './pem';

/** A WebCrypto key pair usable for signing certificates and CSRs. */
export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** Which key to generate: ECDSA on P-256 (the mesh default) or P-384, or RSA of `rsaBits` (default 2048). */
export type KeyType = 'ec-p256' | 'ec-p384' | 'rsa';

/** What a public key is: an EC key on a named curve, or an RSA key of a modulus size. */
export type KeyInfo = { type: 'ec'; curve: string } | { type: 'rsa'; bits: number } | { type: 'other'; name: string };

/** Smallest RSA modulus accepted anywhere in the mesh. */
export const MIN_RSA_BITS = 2048;
/** Curves accepted for EC keys (Node/OpenSSL names and WebCrypto names). */
const CURVES: Record<string, 'P-256' | 'P-384'> = { prime256v1: 'P-256', secp384r1: 'P-384', 'P-256': 'P-256', 'P-384': 'P-384' };

/** Generates a key pair; ECDSA P-256 unless told otherwise. */
export async function generateKeyPair(type: KeyType = 'ec-p256', rsaBits = MIN_RSA_BITS): Promise<KeyPair> {
  const algorithm = type === 'rsa'
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: rsaBits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: type === 'ec-p384' ? 'P-384' : 'P-256' };
  return (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as KeyPair;
}

/** Exports a private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form Node's TLS and Envoy read. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** Exports a public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`). */
export async function exportPublicKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(await crypto.subtle.exportKey('spki', key), 'PUBLIC KEY');
}

/**
 * Imports a private key from PEM (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1
 * `RSA PRIVATE KEY`, as found in Istio's `ca-key.pem`) and derives its public key.
 */
export async function importPrivateKeyPem(pem: string, what = 'private key'): Promise<KeyPair> {
  let priv: KeyObject;
  try {
    priv = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new InvalidPemError(what, 'not a PEM private key', { cause: err });
  }
  const pub = createPublicKey(priv);
  const algorithm = webCryptoAlgorithm(keyInfoOf(pub));
  return {
    privateKey: priv.toCryptoKey(algorithm, true, ['sign']),
    publicKey: pub.toCryptoKey(algorithm, true, ['verify']),
  };
}

/** Describes a public key given as SPKI DER bytes. */
export function describePublicKey(spkiDer: Uint8Array | ArrayBuffer): KeyInfo {
  const der = Buffer.from(spkiDer instanceof ArrayBuffer ? new Uint8Array(spkiDer) : spkiDer);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (err) {
    throw new UnsupportedKeyError(`public key cannot be read (${(err as Error).message})`);
  }
  return keyInfoOf(key);
}

/** Throws UnsupportedKeyError unless the key is EC P-256/P-384 or RSA of at least 2048 bits. */
export function assertKeyStrength(info: KeyInfo): void {
  if (info.type === 'rsa') {
    if (info.bits < MIN_RSA_BITS) throw new UnsupportedKeyError(`RSA ${info.bits} bits is below the minimum of ${MIN_RSA_BITS}`);
    return;
  }
  if (info.type === 'ec') {
    if (!CURVES[info.curve]) throw new UnsupportedKeyError(`EC curve ${info.curve} is not accepted (use P-256 or P-384)`);
    return;
  }
  throw new UnsupportedKeyError(`key type ${info.name} is not accepted (use ECDSA P-256 or RSA ${MIN_RSA_BITS}+)`);
}

/** The signature algorithm a private key signs certificates with (SHA-256, or SHA-384 on P-384). */
export function signingAlgorithmFor(key: CryptoKey): Algorithm & { hash?: string } {
  const alg = key.algorithm as { name: string; namedCurve?: string };
  if (alg.name === 'ECDSA') return { name: 'ECDSA', hash: alg.namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' };
  return { name: 'RSASSA-PKCS1-v1_5' };
}

function keyInfoOf(key: KeyObject): KeyInfo {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return { type: 'ec', curve: CURVES[d.namedCurve ?? ''] ?? d.namedCurve ?? 'unknown' };
  if (key.asymmetricKeyType === 'rsa') return { type: 'rsa', bits: d.modulusLength ?? 0 };
  return { type: 'other', name: key.asymmetricKeyType ?? 'unknown' };
}

function webCryptoAlgorithm(info: KeyInfo): { name: string; namedCurve?: string; hash?: string } {
  assertKeyStrength(info);
  if (info.type === 'ec') return { name: 'ECDSA', namedCurve: info.curve };
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}
