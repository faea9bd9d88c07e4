/** gRPC service definition and client for `istio.v1.auth.IstioCertificateService/CreateCertificate`. */
import * as grpc from '@grpc/grpc-js';
import { caCodec, CREATE_CERTIFICATE_PATH, type CertificateRequest, type CertificateResponse } from './messages';

/** Service definition for `grpc.Server.addService` (one unary method, CreateCertificate). */
export function caServiceDefinition(): grpc.ServiceDefinition {
  return {
    CreateCertificate: {
      path: CREATE_CERTIFICATE_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: caCodec.encodeRequest,
      requestDeserialize: caCodec.decodeRequest,
      responseSerialize: caCodec.encodeResponse,
      responseDeserialize: caCodec.decodeResponse,
    },
  };
}

/** Where and how to reach a CA. */
export interface CaClientOptions {
  /** `host:port` of the CA (e.g. `istio-ca.istio-system.svc:8060`). */
  address: string;
  /** PEM trust bundle the CA's serving certificate must chain to; omit only for a plaintext test CA. */
  rootPem?: string;
  /** TLS server name to check (default the host part of `address`). */
  serverName?: string;
  /** Channel options for @grpc/grpc-js. */
  channelOptions?: grpc.ChannelOptions;
}

/** A small client for CreateCertificate; one channel, reused across calls. */
export class CaClient {
  private readonly client: grpc.Client;
  constructor(opts: CaClientOptions) {
    const creds = opts.rootPem ? grpc.credentials.createSsl(Buffer.from(opts.rootPem)) : grpc.credentials.createInsecure();
    const channelOptions: grpc.ChannelOptions = { ...opts.channelOptions };
    if (opts.serverName) channelOptions['grpc.ssl_target_name_override'] = opts.serverName;
    this.client = new grpc.Client(opts.address, creds, channelOptions);
  }

  /** Sends a CSR with the caller's bearer token; resolves the PEM chain (leaf first, root last). */
  createCertificate(req: { csr: string; validitySeconds?: number; token?: string; metadata?: CertificateRequest['metadata']; deadlineMs?: number }): Promise<string[]> {
    const md = new grpc.Metadata();
    if (req.token) md.set('authorization', `Bearer ${req.token}`);
    const message: CertificateRequest = { csr: req.csr, validity_duration: req.validitySeconds ?? 0, metadata: req.metadata ?? null };
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<CertificateRequest, CertificateResponse>(
        CREATE_CERTIFICATE_PATH,
        caCodec.encodeRequest,
        caCodec.decodeResponse,
        message,
        md,
        { deadline: Date.now() + (req.deadlineMs ?? 10_000) },
        (err, res) => (err ? reject(err) : resolve(res!.cert_chain)),
      );
    });
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }
}
