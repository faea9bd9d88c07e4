/**
 * Istio's certificate service contract, `istio.v1.auth.IstioCertificateService` (istio.io/api
 * security/v1alpha1/ca.proto), declared with protobufjs reflection: field names and numbers as
 * Istio publishes them, so Istio's agent and this mesh's CA and proxy interoperate.
 */
import protobuf from 'protobufjs';

/** `IstioCertificateRequest`: `csr` (1, PEM), `validity_duration` (3, seconds), `metadata` (4, Struct). */
export interface CertificateRequest {
  csr: string;
  /** Requested lifetime in seconds; 0 asks for the CA's default. */
  validity_duration: number;
  /** Optional metadata (Istio uses it for `ImpersonatedIdentity` between istiods). */
  metadata?: { fields?: Record<string, unknown> } | null;
}

/** `IstioCertificateResponse`: `cert_chain` (1), PEM certificates leaf first, root last. */
export interface CertificateResponse {
  cert_chain: string[];
}

/** Full gRPC method path of CreateCertificate. */
export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

const root = new protobuf.Root();
root.addJSON(protobuf.common.get('google/protobuf/struct.proto')!.nested!);
root.addJSON({
  istio: {
    nested: {
      v1: {
        nested: {
          auth: {
            nested: {
              IstioCertificateRequest: {
                fields: {
                  csr: { type: 'string', id: 1 },
                  validity_duration: { type: 'int64', id: 3 },
                  metadata: { type: 'google.protobuf.Struct', id: 4 },
                },
              },
              IstioCertificateResponse: {
                fields: { cert_chain: { rule: 'repeated', type: 'string', id: 1 } },
              },
              IstioCertificateService: {
                methods: {
                  CreateCertificate: { requestType: 'IstioCertificateRequest', responseType: 'IstioCertificateResponse' },
                },
              },
            },
          },
        },
      },
    },
  },
});
root.resolveAll();

const Req = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const Res = root.lookupType('istio.v1.auth.IstioCertificateResponse');
const toObjectOpts = { longs: Number, defaults: true, arrays: true } as const;

/** Encoders and decoders for the two messages. */
export const caCodec = {
  encodeRequest: (m: CertificateRequest): Buffer => Buffer.from(Req.encode(Req.fromObject(m)).finish()),
  decodeRequest: (b: Buffer): CertificateRequest => Req.toObject(Req.decode(b), toObjectOpts) as CertificateRequest,
  encodeResponse: (m: CertificateResponse): Buffer => Buffer.from(Res.encode(Res.fromObject(m)).finish()),
  decodeResponse: (b: Buffer): CertificateResponse => Res.toObject(Res.decode(b), toObjectOpts) as CertificateResponse,
};

/** The protobufjs root holding the service, for tools that want the descriptor. */
export const caProtoRoot = root;
