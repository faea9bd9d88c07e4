/**
 * Plug-in CA in Istio's `cacerts` layout: `ca-cert.pem` (signing cert), `ca-key.pem` (its key),
 * `cert-chain.pem` (chain up to the root) and `root-cert.pem` (the root).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadIssuer, verifyChain, type Issuer } from '@tsmesh/certs';
import { CaConfigError } from '../errors';

/** File names of Istio's plug-in CA secret `cacerts`. */
export const CACERTS_FILES = { cert: 'ca-cert.pem', key: 'ca-key.pem', chain: 'cert-chain.pem', root: 'root-cert.pem' } as const;

/** True when `dir` holds a plug-in CA (at least `ca-cert.pem`). */
export function hasPluginCa(dir: string): boolean {
  return existsSync(join(dir, CACERTS_FILES.cert));
}

/** Loads and checks a plug-in CA: key matches cert, chain verifies up to `root-cert.pem`. */
export async function loadPluginCa(dir: string): Promise<Issuer> {
  const read = (name: string, required: boolean): string | undefined => {
    const p = join(dir, name);
    if (!existsSync(p)) {
      if (required) throw new CaConfigError(`--cacerts ${dir}: ${name} is missing`);
      return undefined;
    }
    return readFileSync(p, 'utf8');
  };
  try {
    const issuer = await loadIssuer({
      certPem: read(CACERTS_FILES.cert, true)!,
      keyPem: read(CACERTS_FILES.key, true)!,
      chainPem: read(CACERTS_FILES.chain, false),
      rootPem: read(CACERTS_FILES.root, true),
    });
    await verifyChain(issuer.chain, issuer.rootPem);
    return issuer;
  } catch (err) {
    if (err instanceof CaConfigError) throw err;
    throw new CaConfigError(`--cacerts ${dir}: ${(err as Error).message}`, { cause: err });
  }
}
