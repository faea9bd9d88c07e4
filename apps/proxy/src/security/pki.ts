/**
 * The PKI half of `@tsmesh/certs` the certificate agent uses (key pair, CSR through @peculiar/x509,
 * the CA's gRPC client and messages, certificate parsing). `agent.ts` imports this module with
 * `import()` on its first request, so it and its packages are a bundle chunk of their own that a
 * proxy without a CA never loads.
 */
export { CaClient, createCsr, exportPrivateKeyPem, generateKeyPair, parseCertificate, renewAt, splitPemCertificates } from '@tsmesh/certs';
