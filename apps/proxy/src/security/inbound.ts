/**
 * Inbound mTLS modes (Istio PeerAuthentication): which way an accepted connection goes once its
 * first bytes are inspected. The control plane expresses the same as filter chains
 * (`transport_protocol: tls` + Istio ALPN → TLS chain; no match → plaintext chain); this is the
 * decision for code that holds one port with a mode rather than chains.
 */
import type { ClientHelloFacts } from './client-hello';

/** PeerAuthentication mTLS mode of a port. */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** ALPN protocols Istio sidecars offer on mesh mTLS (the inbound side recognises mesh traffic by them). */
export const ISTIO_MTLS_ALPN: readonly string[] = ['istio-peer-exchange', 'istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];

/** True when the client offers one of Istio's mesh ALPN protocols. */
export function offersIstioAlpn(facts: ClientHelloFacts): boolean {
  for (const p of facts.alpn) if (ISTIO_MTLS_ALPN.includes(p)) return true;
  return false;
}

/**
 * `terminate`: mesh mTLS, terminate with the workload certificate and require a client
 * certificate; `plaintext`: hand the bytes to the app's protocol as they are (in PERMISSIVE this
 * includes TLS the app terminates itself); `refuse`: close (plaintext under STRICT).
 */
export function inboundDecision(mode: MtlsMode, facts: ClientHelloFacts): 'terminate' | 'plaintext' | 'refuse' {
  switch (mode) {
    case 'STRICT': return facts.transport === 'tls' ? 'terminate' : 'refuse';
    case 'PERMISSIVE': return facts.transport === 'tls' && offersIstioAlpn(facts) ? 'terminate' : 'plaintext';
    default: return 'plaintext';
  }
}
