/**
 * Self-signed root persisted in a file (local runtime): the root certificate and its PKCS#8 key in
 * one PEM file, mode 0600. Created on first start, loaded on every later start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRootCa, exportPrivateKeyPem, joinPem, loadIssuer, type Issuer } from '@tsmesh/certs';
import { CaConfigError } from '../errors';
import { writeFileAtomic } from '../files';

/** Loads the root from `path`, or creates one for `trustDomain` and writes it there. */
export async function loadOrCreateFileRoot(path: string, trustDomain: string): Promise<{ issuer: Issuer; created: boolean }> {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8');
    try {
      return { issuer: await loadIssuer({ certPem: text, keyPem: text }), created: false };
    } catch (err) {
      throw new CaConfigError(`--root-file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  const issuer = await createRootCa({ subject: `O=${trustDomain}` });
  writeFileAtomic(path, joinPem([issuer.cert.pem, await exportPrivateKeyPem(issuer.keys.privateKey)]), 0o600);
  return { issuer, created: true };
}
