/** SDS generation: a gateway's `kubernetes://<credentialName>` secrets, cached by {@link CredentialKey}. */
import { encodeResource, TypeUrl, type EncodedResource } from '@tsmesh/xds';
import { credentialSecrets } from '../secrets';
import type { PushGeneration } from './context';
import { CredentialKey } from './keys';

/** Encoded credential secrets of Gateway servers in `namespace` (a missing or incomplete Secret gives none). */
export function gatewayCredentials(g: PushGeneration, namespace: string, creds: readonly { name: string; mutual: boolean }[]): EncodedResource[] {
  const out: EncodedResource[] = [];
  for (const c of creds) {
    const list = g.cache.lookup(new CredentialKey(namespace, c.name, c.mutual), () => credentialSecrets(g.push, namespace, [c]).map((s) => encodeResource(TypeUrl.Secret, s)));
    out.push(...list);
  }
  return out;
}
