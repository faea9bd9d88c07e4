/**
 * gRPC method definitions of `envoy.service.discovery.v3.AggregatedDiscoveryService`, serialized
 * with the generated protobufjs code directly so responses can carry pre-encoded `Any` resources.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { messageCodec } from './codec';
import type {
  DeltaDiscoveryRequest__Output,
  DeltaDiscoveryResponse__Output,
  DiscoveryRequest__Output,
  DiscoveryResponse__Output,
} from '../types';
import type { PackedAny } from './codec';

/** A DiscoveryResponse ready to encode (resources already packed). */
export interface OutgoingDiscoveryResponse {
  version_info: string;
  resources: PackedAny[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string };
}

/** A DeltaDiscoveryResponse ready to encode. */
export interface OutgoingDeltaDiscoveryResponse {
  system_version_info: string;
  resources: { name: string; version: string; resource: PackedAny }[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane?: { identifier: string };
}

/** An outgoing DiscoveryRequest. */
export interface OutgoingDiscoveryRequest {
  version_info: string;
  node?: object;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code: number; message: string } | null;
}

const T = {
  req: () => messageCodec('envoy.service.discovery.v3.DiscoveryRequest'),
  res: () => messageCodec('envoy.service.discovery.v3.DiscoveryResponse'),
  dreq: () => messageCodec('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
  dres: () => messageCodec('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
};

const decodeOpts = { longs: String, enums: String, defaults: true, arrays: true, oneofs: true } as const;

/** Encoders and decoders for the four ADS message types. */
export const adsCodec = {
  encodeRequest: (m: OutgoingDiscoveryRequest): Buffer => Buffer.from(T.req().encode(T.req().fromObject(m)).finish()),
  decodeRequest: (b: Buffer): DiscoveryRequest__Output => T.req().toObject(T.req().decode(b), decodeOpts) as DiscoveryRequest__Output,
  encodeResponse: (m: OutgoingDiscoveryResponse): Buffer => Buffer.from(T.res().encode(m).finish()),
  decodeResponse: (b: Buffer): DiscoveryResponse__Output => {
    // Keep `Any.value` as bytes: resources are unpacked by type later.
    return T.res().toObject(T.res().decode(b), { ...decodeOpts, bytes: Buffer }) as DiscoveryResponse__Output;
  },
  encodeDeltaRequest: (m: object): Buffer => Buffer.from(T.dreq().encode(T.dreq().fromObject(m)).finish()),
  decodeDeltaRequest: (b: Buffer): DeltaDiscoveryRequest__Output => T.dreq().toObject(T.dreq().decode(b), decodeOpts) as DeltaDiscoveryRequest__Output,
  encodeDeltaResponse: (m: OutgoingDeltaDiscoveryResponse): Buffer => Buffer.from(T.dres().encode(m).finish()),
  decodeDeltaResponse: (b: Buffer): DeltaDiscoveryResponse__Output =>
    T.dres().toObject(T.dres().decode(b), { ...decodeOpts, bytes: Buffer }) as DeltaDiscoveryResponse__Output,
};

/** Full method paths. */
export const ADS_PATHS = {
  sotw: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  delta: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
} as const;

/** Service definition for `grpc.Server.addService`. */
export function adsServiceDefinition(): ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: ADS_PATHS.sotw,
      requestStream: true,
      responseStream: true,
      requestSerialize: adsCodec.encodeRequest,
      requestDeserialize: adsCodec.decodeRequest,
      responseSerialize: adsCodec.encodeResponse,
      responseDeserialize: adsCodec.decodeResponse,
      originalName: 'streamAggregatedResources',
    },
    DeltaAggregatedResources: {
      path: ADS_PATHS.delta,
      requestStream: true,
      responseStream: true,
      requestSerialize: adsCodec.encodeDeltaRequest,
      requestDeserialize: adsCodec.decodeDeltaRequest,
      responseSerialize: adsCodec.encodeDeltaResponse,
      responseDeserialize: adsCodec.decodeDeltaResponse,
      originalName: 'deltaAggregatedResources',
    },
  } as unknown as ServiceDefinition;
}

export type { DiscoveryResponse__Output, DeltaDiscoveryResponse__Output };
