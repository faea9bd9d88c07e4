/**
 * SDS for gateways: a Gateway server's `credentialName` is served as the Secret
 * `kubernetes://<name>` (certificate chain and key from the Kubernetes Secret's `tls.crt` and
 * `tls.key`, or `cert` and `key`) and, for MUTUAL, `kubernetes://<name>-cacert` (`ca.crt` or
 * `cacert`). The Secret is looked up in the gateway proxy's namespace, as Istio does.
 */
import { tlsCertificateSecret, validationContextSecret, type Secret as EnvoySecret } from '@tsmesh/xds';
import type { Secret } from '@tsmesh/mesh-config';
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

/** SDS secrets for the credentials a gateway references; missing or incomplete Kubernetes Secrets are skipped. */
export function credentialSecrets(push: PushContext, namespace: string, creds: readonly { name: string; mutual: boolean }[]): EnvoySecret[] {
  const out: EnvoySecret[] = [];
  for (const c of creds) {
    const s = push.secret(namespace, c.name);
    if (!s) continue;
    const cert = field(s, 'tls.crt', 'cert');
    const key = field(s, 'tls.key', 'key');
    if (cert && key) out.push(tlsCertificateSecret(`kubernetes://${c.name}`, cert, key));
    const ca = field(s, 'ca.crt', 'cacert') ?? (c.mutual ? field(push.secret(namespace, `${c.name}-cacert`) ?? {}, 'ca.crt', 'cacert') : undefined);
    if (c.mutual && ca) out.push(validationContextSecret(`kubernetes://${c.name}-cacert`, ca));
  }
  return out;
}
