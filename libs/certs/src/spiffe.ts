/** SPIFFE IDs of Kubernetes workloads: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. */
import { InvalidSpiffeIdError } from './errors';

/** The parts of a workload SPIFFE ID. */
export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** Default trust domain of the mesh (Istio's `cluster.local`). */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
// Kubernetes names: DNS-1123 labels (namespaces) and subdomains (service accounts).
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Formats `spiffe://<td>/ns/<ns>/sa/<sa>`, checking each part. */
export function formatSpiffeId(id: SpiffeId): string {
  const uri = `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
  checkParts(uri, id);
  return uri;
}

/** Parses a workload SPIFFE ID; throws InvalidSpiffeIdError naming what is wrong. */
export function parseSpiffeId(uri: string): SpiffeId {
  if (!uri.startsWith('spiffe://')) throw new InvalidSpiffeIdError(uri, 'scheme must be "spiffe"');
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new InvalidSpiffeIdError(uri, 'missing trust domain or path');
  const trustDomain = rest.slice(0, slash);
  const parts = rest.slice(slash + 1).split('/');
  if (parts.length !== 4 || parts[0] !== 'ns' || parts[2] !== 'sa') {
    throw new InvalidSpiffeIdError(uri, 'path must be /ns/<namespace>/sa/<service account>');
  }
  const id = { trustDomain, namespace: parts[1], serviceAccount: parts[3] };
  checkParts(uri, id);
  return id;
}

/** True when `uri` is a well-formed workload SPIFFE ID. */
export function isSpiffeId(uri: string): boolean {
  try {
    parseSpiffeId(uri);
    return true;
  } catch {
    return false;
  }
}

/**
 * Maps a Kubernetes service-account username (`system:serviceaccount:<ns>:<sa>`, the `sub` of a
 * service-account token and the TokenReview `status.user.username`) to its namespace and name.
 */
export function parseServiceAccountUsername(username: string): { namespace: string; serviceAccount: string } | null {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  if (!m || !NAMESPACE.test(m[1]) || !SERVICE_ACCOUNT.test(m[2])) return null;
  return { namespace: m[1], serviceAccount: m[2] };
}

function checkParts(uri: string, id: SpiffeId): void {
  if (!TRUST_DOMAIN.test(id.trustDomain)) throw new InvalidSpiffeIdError(uri, `trust domain "${id.trustDomain}" has characters outside [a-z0-9._-]`);
  if (!NAMESPACE.test(id.namespace) || id.namespace.length > 63) throw new InvalidSpiffeIdError(uri, `namespace "${id.namespace}" is not a Kubernetes name`);
  if (!SERVICE_ACCOUNT.test(id.serviceAccount) || id.serviceAccount.length > 253) {
    throw new InvalidSpiffeIdError(uri, `service account "${id.serviceAccount}" is not a Kubernetes name`);
  }
}

/**
 * The workload SPIFFE ID of a TLS peer, read from Node's `PeerCertificate.subjectaltname`
 * (`"URI:spiffe://..., DNS:..."`), or null when it has none.
 */
export function peerSpiffeId(peer: { subjectaltname?: string } | null | undefined): string | null {
  const san = peer?.subjectaltname;
  if (!san) return null;
  for (const part of san.split(', ')) {
    if (part.startsWith('URI:') && isSpiffeId(part.slice(4))) return part.slice(4);
  }
  return null;
}
