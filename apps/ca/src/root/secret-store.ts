/**
 * Self-signed root persisted in a Kubernetes Secret (Istio's `istio-ca-secret` in the CA's
 * namespace, keys `ca-cert.pem` and `ca-key.pem`). Created on first start; when two replicas race,
 * the loser reads the winner's Secret.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { createRootCa, exportPrivateKeyPem, loadIssuer, type Issuer } from '@tsmesh/certs';
import { CaConfigError } from '../errors';

/** Name of the Secret holding the self-signed root, as Istio names it. */
export const CA_SECRET_NAME = 'istio-ca-secret';

/** Loads the root from the Secret, or creates it. */
export async function loadOrCreateSecretRoot(kc: KubeConfig, namespace: string, trustDomain: string): Promise<{ issuer: Issuer; created: boolean }> {
  const api = kc.makeApiClient(CoreV1Api);
  const existing = await readSecret(api, namespace);
  if (existing) return { issuer: await fromSecret(existing, namespace), created: false };
  const issuer = await createRootCa({ subject: `O=${trustDomain}` });
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: CA_SECRET_NAME, namespace },
    type: 'istio.io/ca-root',
    data: {
      'ca-cert.pem': Buffer.from(issuer.cert.pem).toString('base64'),
      'ca-key.pem': Buffer.from(await exportPrivateKeyPem(issuer.keys.privateKey)).toString('base64'),
    },
  };
  try {
    await api.createNamespacedSecret({ namespace, body });
    return { issuer, created: true };
  } catch (err) {
    if (statusOf(err) !== 409) throw new CaConfigError(`creating Secret ${namespace}/${CA_SECRET_NAME}: ${(err as Error).message}`, { cause: err });
    const winner = await readSecret(api, namespace);
    if (!winner) throw new CaConfigError(`Secret ${namespace}/${CA_SECRET_NAME} conflicted on create but cannot be read`);
    return { issuer: await fromSecret(winner, namespace), created: false };
  }
}

async function readSecret(api: CoreV1Api, namespace: string): Promise<V1Secret | null> {
  try {
    return await api.readNamespacedSecret({ name: CA_SECRET_NAME, namespace });
  } catch (err) {
    if (statusOf(err) === 404) return null;
    throw new CaConfigError(`reading Secret ${namespace}/${CA_SECRET_NAME}: ${(err as Error).message}`, { cause: err });
  }
}

async function fromSecret(secret: V1Secret, namespace: string): Promise<Issuer> {
  const get = (k: string) => {
    const v = secret.data?.[k];
    if (!v) throw new CaConfigError(`Secret ${namespace}/${CA_SECRET_NAME} has no "${k}"`);
    return Buffer.from(v, 'base64').toString('utf8');
  };
  try {
    return await loadIssuer({ certPem: get('ca-cert.pem'), keyPem: get('ca-key.pem') });
  } catch (err) {
    if (err instanceof CaConfigError) throw err;
    throw new CaConfigError(`Secret ${namespace}/${CA_SECRET_NAME}: ${(err as Error).message}`, { cause: err });
  }
}

/** HTTP status of a @kubernetes/client-node ApiException, or 0. */
export function statusOf(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : 0;
}
