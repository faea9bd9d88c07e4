/**
 * The injector's own serving certificate, for clusters that provide none (as istiod issues its own
 * webhook certificate): a CA and a leaf for `<service>.<namespace>.svc`, written to a writable
 * directory as tls.crt, tls.key and ca.crt. The CA goes into the webhook's caBundle through the
 * CaBundlePatcher, so nothing outside the injector has to make keys.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRootCa, createWorkloadCert } from '@tsmesh/certs';

const TEN_YEARS = 10 * 365 * 24 * 3600;

/** Issues and writes the files; returns their paths. */
export async function issueServingCert(dir: string, service: string, namespace: string): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  const host = `${service}.${namespace}.svc`;
  const ca = await createRootCa({ subject: `O=tsmesh, CN=${service} webhook CA`, ttlSeconds: TEN_YEARS });
  const leaf = await createWorkloadCert(ca, { dnsNames: [host, `${host}.cluster.local`, `${service}.${namespace}`, service], ttlSeconds: TEN_YEARS });
  mkdirSync(dir, { recursive: true });
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt') };
  writeFileSync(files.keyFile, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.certFile, leaf.chainPem);
  writeFileSync(files.caFile, ca.rootPem);
  return files;
}
