/**
 * SDS for gateways: a Gateway server's `credentialName` is served as the Secret
 * `kubernetes://<name>` (certificate chain and key from the Kubernetes Secret's `tls.crt` and
 * `tls.key`, or `cert` and `key`) and, for MUTUAL, `kubernetes://<name>-cacert` (`ca.crt` or
 * `cacert`). The Secret is looked up in the gateway proxy's namespace, as Istio does; a Gateway
 * API certificateRef into another namespace is served as `kubernetes-gateway://<ns>/<name>` from
 * that namespace, only while a ReferenceGrant there permits it.
 */
import { tlsCertificateSecret, validationContextSecret, type Secret as EnvoySecret } from '@tsmesh/xds';
import { referenceGrants, type Secret } from '@tsmesh/mesh-config';
import type { PushContext } from '../model/push-context';

function field(s: Secret, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const sd = s.stringData?.[k];
    if (sd) return sd;
    const d = s.data?.[k];
    if (d) return Buffer.from(d, 'base64').toString('utf8');
  }
  return undefined;
}

/** One credential a gateway's listener references (see `gatewayCredentialNames`). */
export interface GatewayCredential {
  /** SDS name: `kubernetes://<name>`, or `kubernetes-gateway://<namespace>/<name>` (a Gateway API certificateRef into another namespace). */
  sds?: string;
  /** Namespace of the Secret (defaults to the lookup namespace). */
  namespace?: string;
  name: string;
  /** Namespace of the Gateway whose listener references it (for the ReferenceGrant check). */
  gatewayNamespace?: string;
  mutual: boolean;
}

/**
 * Whether the SDS side may read the Secret of `c`: always in the lookup namespace; in another
 * namespace only for a `kubernetes-gateway://` credential whose Secret's namespace has a
 * ReferenceGrant from Gateways of the referring Gateway's namespace to that Secret (checked here
 * again, so a credential name alone never reads another namespace's Secret).
 */
export function credentialReadable(push: PushContext, lookupNamespace: string, c: GatewayCredential): boolean {
  const ns = c.namespace ?? lookupNamespace;
  if (ns === lookupNamespace && !c.sds?.startsWith('kubernetes-gateway://')) return true;
  if (!c.sds?.startsWith('kubernetes-gateway://') || !c.gatewayNamespace) return false;
  const granted = referenceGrants((k) => push.byKind.get(k) ?? []);
  return granted('Gateway', c.gatewayNamespace, 'Secret', ns, c.name);
}

/** SDS secrets for the credentials a gateway references; missing, incomplete or not permitted Kubernetes Secrets are skipped. */
export function credentialSecrets(push: PushContext, namespace: string, creds: readonly GatewayCredential[]): EnvoySecret[] {
  const out: EnvoySecret[] = [];
  for (const c of creds) {
    if (!credentialReadable(push, namespace, c)) continue;
    const ns = c.namespace ?? namespace;
    const sds = c.sds ?? `kubernetes://${c.name}`;
    const s = push.secret(ns, c.name);
    if (!s) continue;
    const cert = field(s, 'tls.crt', 'cert');
    const key = field(s, 'tls.key', 'key');
    if (cert && key) out.push(tlsCertificateSecret(sds, cert, key));
    const ca = field(s, 'ca.crt', 'cacert') ?? (c.mutual ? field(push.secret(ns, `${c.name}-cacert`) ?? {}, 'ca.crt', 'cacert') : undefined);
    if (c.mutual && ca) out.push(validationContextSecret(`${sds}-cacert`, ca));
  }
  return out;
}
