/**
 * `@tsmesh/certs/spiffe`: SPIFFE ID formatting and parsing alone, for processes that load the
 * PKI half of the lib (@peculiar/x509, the CA client) only when they need it (the proxy: only
 * its certificate agent, on its first request): importing the lib's index loads them at start.
 */
export * from './spiffe';
