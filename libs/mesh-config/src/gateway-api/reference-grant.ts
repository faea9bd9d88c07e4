/**
 * ReferenceGrant, as Gateway API defines it: an object in namespace B may be referred to from
 * namespace A only when a ReferenceGrant in B lists the referring kind and namespace in `from` and
 * the referred kind (and, when given, name) in `to`. A reference within one namespace needs no
 * grant. Also the resolution of a listener's `tls.certificateRefs` (a Secret, maybe in another
 * namespace) that both the translation and the status use, so the two never disagree.
 */
import type { ConfigResource } from '../resource';
import { GATEWAY_API_GROUP } from '../kinds';
import type { GatewayListener, ReferenceGrantObject } from '../types/gateway-api';

/** True when `fromKind` objects in `fromNs` may refer to `toKind` `toName` (core group) in `toNs`. */
export type ReferenceGranted = (fromKind: string, fromNs: string, toKind: string, toNs: string, toName: string) => boolean;

/** The grant check over the ReferenceGrants of one config set. */
export function referenceGrants(byKind: (kind: string) => readonly ConfigResource[]): ReferenceGranted {
  const grants = byKind('ReferenceGrant');
  return (fromKind, fromNs, toKind, toNs, toName) => fromNs === toNs || grants.some((g) => {
    if (g.namespace !== toNs) return false;
    const spec = (g.object as ReferenceGrantObject).spec;
    return !!spec && (spec.from ?? []).some((f) => f.group === GATEWAY_API_GROUP && f.kind === fromKind && f.namespace === fromNs)
      && (spec.to ?? []).some((t) => (t.group ?? '') === '' && t.kind === toKind && (!t.name || t.name === toName));
  });
}

/** A listener's certificate, resolved: the Secret to serve, or why it cannot be (listener `ResolvedRefs` reason). */
export type CertificateRefResolution =
  | { ok: true; namespace: string; name: string; crossNamespace: boolean }
  | { ok: false; reason: 'InvalidCertificateRef' | 'RefNotPermitted'; message: string; missing?: { namespace: string; name: string; crossNamespace: boolean } };

/**
 * The first `tls.certificateRefs` entry of a listener of Gateway `gwNs`: a core Secret, in the
 * Gateway's namespace or — with a ReferenceGrant in the Secret's namespace from Gateways of `gwNs`
 * to that Secret — in another one, and present in the config set. Anything else is refused
 * (`InvalidCertificateRef` / `RefNotPermitted`), and a refused listener is not served.
 */
export function resolveCertificateRef(l: GatewayListener, gwNs: string, byKind: (kind: string) => readonly ConfigResource[], granted: ReferenceGranted = referenceGrants(byKind)): CertificateRefResolution | undefined {
  const ref = l.tls?.certificateRefs?.[0];
  if (!ref) return undefined;
  const ns = ref.namespace ?? gwNs;
  if ((ref.kind ?? 'Secret') !== 'Secret' || (ref.group ?? '') !== '') return { ok: false, reason: 'InvalidCertificateRef', message: `certificateRef ${ref.group ?? ''}/${ref.kind} ${ref.name} is not a Secret` };
  if (!granted('Gateway', gwNs, 'Secret', ns, ref.name)) {
    return { ok: false, reason: 'RefNotPermitted', message: `Secret ${ns}/${ref.name} is in another namespace and no ReferenceGrant in ${ns} permits Gateways of ${gwNs} to refer to it` };
  }
  // A permitted Secret that is not there (yet): refused in status; `missing` names it for the
  // translation, which keeps the listener pointing at it so it is served once it appears.
  if (!byKind('Secret').some((s) => s.namespace === ns && s.name === ref.name)) {
    return { ok: false, reason: 'InvalidCertificateRef', message: `Secret ${ns}/${ref.name} not found`, missing: { namespace: ns, name: ref.name, crossNamespace: ns !== gwNs } };
  }
  return { ok: true, namespace: ns, name: ref.name, crossNamespace: ns !== gwNs };
}

/**
 * The SDS name of a Gateway API certificate in another namespace, as Istio names it
 * (`kubernetes-gateway://<namespace>/<name>`); a Secret of the Gateway's own namespace keeps the
 * Istio Gateway's `kubernetes://<name>`.
 */
export const crossNamespaceCredential = (namespace: string, name: string) => `kubernetes-gateway://${namespace}/${name}`;

/** The namespace and name in a `kubernetes-gateway://<namespace>/<name>` credential, else undefined. */
export function parseCrossNamespaceCredential(cred: string): { namespace: string; name: string } | undefined {
  const m = /^kubernetes-gateway:\/\/([^/]+)\/([^/]+)$/.exec(cred);
  return m ? { namespace: m[1], name: m[2] } : undefined;
}
