/** @tsmesh/certs: keys, CSRs, X.509 issue/parse/verify, SPIFFE IDs, PEM bundles, rotation timing, the CA's gRPC contract. */
export * from './errors';
export * from './pem';
export * from './spiffe';
export * from './keys';
export * from './names';
export * from './csr';
export * from './certificate';
export * from './issuer';
export * from './issue';
export * from './verify';
export * from './rotation';
export * from './workload';
export * from './ca-api/messages';
export * from './ca-api/service';
export * from './ca-api/fetch';
