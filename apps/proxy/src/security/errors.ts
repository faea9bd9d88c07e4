/** Named errors of the proxy's TLS layer, each with a stable `code`. */

/** A TLS context refers to an SDS secret the proxy does not have (yet). */
export class SecretNotReadyError extends Error {
  readonly code = 'PROXY_TLS_SECRET_NOT_READY';
  constructor(readonly secret: string) {
    super(`SDS secret "${secret}" is not available yet`);
    this.name = 'SecretNotReadyError';
  }
}

/** A peer certificate does not chain to the trust bundle, is expired, or is missing when required. */
export class PeerCertificateError extends Error {
  readonly code = 'PROXY_TLS_PEER_CERTIFICATE';
  constructor(reason: string) {
    super(`peer certificate refused: ${reason}`);
    this.name = 'PeerCertificateError';
  }
}

/** A peer's subject alt names match none of the identities the control plane lists. */
export class PeerIdentityError extends Error {
  readonly code = 'PROXY_TLS_PEER_IDENTITY';
  constructor(presented: string, expected: string) {
    super(`peer identity [${presented}] is not one of [${expected}]`);
    this.name = 'PeerIdentityError';
  }
}
