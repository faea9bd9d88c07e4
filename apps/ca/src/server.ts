/** The CA process: gRPC over TLS serving CreateCertificate, plus the monitoring endpoint. */
import * as grpc from '@grpc/grpc-js';
import type http from 'node:http';
import type { Logger } from 'pino';
import { caServiceDefinition, createWorkloadCert, joinPem, parseCertificate, type Issuer } from '@tsmesh/certs';
import type { Authenticator } from './auth/authenticator';
import { CaMetrics } from './metrics';
import { startMonitoring } from './monitoring';
import { CertificateService, type SigningPolicy } from './service';

/** Everything a running CA needs, already loaded. */
export interface CaServerOptions extends SigningPolicy {
  /** `host:port` to serve gRPC on (port 0 picks one). */
  listen: string;
  issuer: Issuer;
  authenticator: Authenticator;
  /** Serving certificate chain and key (PEM); issued from `issuer` for `servingDnsNames` when omitted. */
  tls?: { certChainPem: string; keyPem: string };
  /** DNS names of the self-issued serving certificate. */
  servingDnsNames: string[];
  /** Monitoring port (0 picks one); null disables it. */
  monitoringPort: number | null;
  log: Logger;
}

/** A running CA. */
export interface RunningCa {
  grpcPort: number;
  monitoringPort: number | null;
  metrics: CaMetrics;
  /** PEM chain the gRPC endpoint serves (leaf first). */
  servingChainPem: string;
  close(): Promise<void>;
}

/** Largest request accepted (a CSR is a few hundred bytes; anything near this is not one). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Starts gRPC (TLS) and monitoring; resolves once both listen. */
export async function startCaServer(opts: CaServerOptions): Promise<RunningCa> {
  const metrics = new CaMetrics();
  metrics.rootExpiry = Math.floor(parseCertificate(opts.issuer.rootPem, 'root certificate').notAfter.getTime() / 1000);
  metrics.chainExpiry = Math.floor(opts.issuer.cert.notAfter.getTime() / 1000);

  let tls = opts.tls;
  if (!tls) {
    const serving = await createWorkloadCert(opts.issuer, { dnsNames: opts.servingDnsNames, ipAddresses: ['127.0.0.1', '::1'], ttlSeconds: 365 * 86400 });
    tls = { certChainPem: serving.chainPem, keyPem: serving.keyPem };
  }
  const service = new CertificateService(opts.issuer, opts.authenticator, opts, metrics, opts.log);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  server.addService(caServiceDefinition(), { CreateCertificate: service.handler() });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.certChainPem), private_key: Buffer.from(tls.keyPem) }], false);
  const grpcPort = await new Promise<number>((resolve, reject) => server.bindAsync(opts.listen, creds, (err, port) => (err ? reject(err) : resolve(port))));

  let monitoring: http.Server | undefined;
  let monitoringPort: number | null = null;
  if (opts.monitoringPort !== null) {
    try {
      const m = await startMonitoring(hostOf(opts.listen), opts.monitoringPort, metrics, () => true);
      monitoring = m.server;
      monitoringPort = m.port;
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
  }
  opts.log.info({ grpcPort, monitoringPort, signer: opts.issuer.cert.subject }, 'CA serving');
  return {
    grpcPort,
    monitoringPort,
    metrics,
    servingChainPem: tls.certChainPem,
    close: async () => {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      if (monitoring) {
        monitoring.closeAllConnections();
        await new Promise<void>((resolve) => monitoring!.close(() => resolve()));
      }
    },
  };
}

/** Host part of a `host:port` listen address (brackets removed, empty → all interfaces). */
export function hostOf(listen: string): string {
  const i = listen.lastIndexOf(':');
  const host = i < 0 ? listen : listen.slice(0, i);
  return host.replace(/^\[|\]$/g, '') || '0.0.0.0';
}

/** The trust bundle (root PEM) the CA publishes. */
export function trustBundle(issuer: Issuer): string {
  return joinPem([issuer.rootPem]);
}
