/**
 * The peer of a TLS connection: its chain checked against a trust bundle (signatures, validity,
 * CA flags, with Node's native X.509), its SANs and its SPIFFE identity, kept on the socket so
 * authorization, telemetry and access logs can read it.
 */
import { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import { isSpiffeId } from '@tsmesh/certs/spiffe';
import { PeerCertificateError } from './errors';
import { parseSubjectAltName, type San } from './san';

/** What is known about the peer of a TLS connection. */
export interface PeerIdentity {
  /** SPIFFE ID of the peer certificate (`spiffe://…`), or '' when it has none. */
  principal: string;
  /** All SANs of the peer certificate. */
  sans: San[];
  /** Subject of the peer certificate (for non-SPIFFE clients). */
  subject: string;
  /** Negotiated ALPN protocol ('' when none). */
  alpn: string;
  /** SNI the client asked for ('' when none). */
  sni: string;
  /** TLS version (`TLSv1.3`). */
  protocol: string;
}

/** Key under which a TLS socket carries its {@link PeerIdentity} once the handshake is done and checked. */
export const kPeerIdentity = Symbol('tsmesh.peerIdentity');

/** The checked peer identity of a socket (TLS connections only), or null. */
export function peerIdentityOf(socket: unknown): PeerIdentity | null {
  return ((socket as { [kPeerIdentity]?: PeerIdentity } | null)?.[kPeerIdentity]) ?? null;
}

/** Parses a PEM bundle into Node X509 certificates. */
export function parseBundle(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  const re = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
  for (const m of pem.matchAll(re)) out.push(new X509Certificate(m[0]));
  return out;
}

function checkTime(c: X509Certificate, now: number, what: string): void {
  if (now < c.validFromDate.getTime()) throw new PeerCertificateError(`${what} is not valid before ${c.validFromDate.toISOString()}`);
  if (now > c.validToDate.getTime()) throw new PeerCertificateError(`${what} expired at ${c.validToDate.toISOString()}`);
}

function signedBy(c: X509Certificate, issuer: X509Certificate): boolean {
  return c.checkIssued(issuer) && c.verify(issuer.publicKey);
}

/**
 * Verifies `chain` (leaf first, as the peer sent it) against `roots`; throws PeerCertificateError
 * with the reason. Intermediates must be CAs; every certificate on the path must be valid now.
 */
export function verifyPeerChain(chain: readonly X509Certificate[], roots: readonly X509Certificate[], now = Date.now()): void {
  if (!chain.length) throw new PeerCertificateError('no certificate presented');
  let cur = chain[0];
  checkTime(cur, now, 'certificate');
  const pool = chain.slice(1);
  for (let depth = 0; depth < 8; depth++) {
    for (const r of roots) {
      if (cur.fingerprint256 === r.fingerprint256 || signedBy(cur, r)) {
        checkTime(r, now, 'root certificate');
        return;
      }
    }
    const next = pool.find((i) => i.ca && signedBy(cur, i));
    if (!next) throw new PeerCertificateError(`issued by "${cur.issuer.replace(/\n/g, ', ')}", which does not chain to the trust bundle`);
    checkTime(next, now, 'intermediate certificate');
    pool.splice(pool.indexOf(next), 1);
    cur = next;
  }
  throw new PeerCertificateError('chain is too long');
}

/** The chain a TLS peer presented, leaf first (empty when it sent none). */
export function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf || !leaf.raw) return [];
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: tls.DetailedPeerCertificate | undefined = leaf;
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/** Builds the {@link PeerIdentity} of a connected TLS socket from its leaf certificate. */
export function describePeer(socket: tls.TLSSocket, leaf: X509Certificate | undefined): PeerIdentity {
  const sans = leaf ? parseSubjectAltName(leaf.subjectAltName) : [];
  const uri = sans.find((s) => s.type === 'URI' && isSpiffeId(s.value));
  const alpn = socket.alpnProtocol;
  return {
    principal: uri ? uri.value : '',
    sans,
    subject: leaf?.subject?.replace(/\n/g, ',') ?? '',
    alpn: typeof alpn === 'string' ? alpn : '',
    sni: (socket as tls.TLSSocket & { servername?: string | false }).servername || '',
    protocol: socket.getProtocol() ?? '',
  };
}
