/** The workload side of the CA contract in one call: new key, CSR, CreateCertificate, checked answer. */
import { crypto } from '../provider';
import { createCsr } from '../csr';
import { InvalidCertificateError } from '../errors';
import { exportPrivateKeyPem, generateKeyPair, type KeyType } from '../keys';
import { parseCertificate } from '../certificate';
import { joinPem } from '../pem';
import type { WorkloadCert } from '../workload';
import type { CaClient } from './service';

/** What to ask the CA for. */
export interface FetchWorkloadCertOptions {
  /** The workload's service-account token (sent as `authorization: Bearer`). */
  token: string;
  /** SPIFFE ID to put in the CSR; the CA decides the identity from the token either way. */
  spiffeId?: string;
  /** Requested lifetime in seconds (0 or omitted: the CA's default). */
  ttlSeconds?: number;
  keyType?: KeyType;
}

/**
 * Generates a key, sends a CSR to the CA and returns the certificate with its key, chain and root
 * (the last certificate of the CA's answer). Throws the gRPC error as is, or
 * InvalidCertificateError when the answer is not a chain for our key.
 */
export async function fetchWorkloadCert(client: CaClient, opts: FetchWorkloadCertOptions): Promise<WorkloadCert> {
  const keys = await generateKeyPair(opts.keyType);
  const csr = await createCsr(keys, { spiffeId: opts.spiffeId });
  const chain = await client.createCertificate({ csr, token: opts.token, validitySeconds: opts.ttlSeconds });
  if (chain.length === 0) throw new InvalidCertificateError('CA response', 'cert_chain is empty');
  const leaf = parseCertificate(chain[0], 'CA response leaf');
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  if (!spki.equals(Buffer.from(leaf.x509.publicKey.rawData))) throw new InvalidCertificateError('CA response', 'leaf certificate is not for the key we sent');
  return {
    spiffeId: leaf.spiffeId,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    certPem: leaf.pem,
    chainPem: joinPem(chain),
    rootPem: chain[chain.length - 1],
    notAfter: leaf.notAfter,
  };
}
