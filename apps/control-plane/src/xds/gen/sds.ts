/** SDS generation: a gateway's `kubernetes://<credentialName>` secrets, cached by {@link CredentialKey}. */
import { encodeResource, TypeUrl, type EncodedResource } from '@tsmesh/xds';
import { credentialSecrets, type GatewayCredential } from '../secrets';
import type { PushGeneration } from './context';
import { CredentialKey } from './keys';

/**
 * Encoded credential secrets of Gateway servers in `namespace` (a missing or incomplete Secret gives
 * none). A credential in another namespace (`kubernetes-gateway://`) is built on every push, not
 * cached: whether it may be read hangs on the ReferenceGrants, which a cache key cannot name ahead.
 */
export function gatewayCredentials(g: PushGeneration, namespace: string, creds: readonly GatewayCredential[]): EncodedResource[] {
  const out: EncodedResource[] = [];
  for (const c of creds) {
    if (c.sds?.startsWith('kubernetes-gateway://')) {
      out.push(...credentialSecrets(g.push, namespace, [c]).map((s) => encodeResource(TypeUrl.Secret, s)));
      continue;
    }
    const list = g.cache.lookup(new CredentialKey(namespace, c.name, c.mutual), () => credentialSecrets(g.push, namespace, [c]).map((s) => encodeResource(TypeUrl.Secret, s)));
    out.push(...list);
  }
  return out;
}
