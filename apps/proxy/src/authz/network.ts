/**
 * Envoy's network RBAC filter (`envoy.filters.network.rbac`) for TCP ports: the connection is
 * authorized once, from its peer identity, addresses and SNI, before any byte is proxied; a
 * refused connection is closed.
 */
import type { ConnInfo } from '../context';
import { peerIdentityOf } from '../security/peer';
import { AuthzAttributes } from './attributes';
import { authorize, type RbacDecision, type RbacEngine } from './rbac';

/** The attributes of a TCP connection. */
export function connectionAttributes(socket: unknown, conn: ConnInfo): AuthzAttributes {
  const a = new AuthzAttributes();
  const peer = peerIdentityOf(socket);
  if (peer) {
    a.authenticated = true;
    a.principal = peer.principal || peer.subject;
    a.sni = peer.sni;
  }
  a.directRemoteIp = conn.srcIp;
  a.remoteIp = conn.srcIp;
  a.destinationIp = conn.dstIp;
  a.destinationPort = conn.dstPort;
  return a;
}

/** Decides a TCP connection with the chain's network RBAC engines (DENY first, as listed). */
export function authorizeConnection(engines: readonly RbacEngine[], socket: unknown, conn: ConnInfo): RbacDecision {
  if (!engines.length) return { allowed: true, policy: null };
  return authorize(engines, connectionAttributes(socket, conn));
}
