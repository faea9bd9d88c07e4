/**
 * Delta xDS client core (`DeltaAggregatedResources`): subscribes per type (wildcard, or by name),
 * hands each response's changed resources and removed names to the caller's handler, ACKs what
 * the handler applied and NACKs with the handler's reason what it refused (the client keeps the
 * resources it last accepted), and on a new stream resumes with `initial_resource_versions` of
 * what it holds. The proxy uses it for VHDS (`envoy.config.route.v3.VirtualHost`).
 */
import type * as grpc from '@grpc/grpc-js';
import { adsCodec, ADS_PATHS } from '../proto/ads-service';
import { unpack } from '../proto/codec';
import { GrpcCode, ResourceRejectedError } from '../errors';
import { TYPE_SHORT_NAME, type ResourceTypeUrl } from '../type-urls';
import type { DeltaDiscoveryResponse__Output } from '../types';
import type { DecodedResource } from './ads-client';
import { AdsStreamClient, type AdsClientOptions } from './stream-client';

/** One Delta response for a type: resources added or changed, and names removed. */
export interface DeltaUpdate<T = Record<string, unknown>> {
  typeUrl: ResourceTypeUrl;
  systemVersion: string;
  nonce: string;
  /** Added or changed resources, named by their Delta resource name. */
  resources: (DecodedResource<T> & { version: string })[];
  removed: string[];
}

/** Applies a Delta update atomically. Throw (or reject) to NACK: nothing of the update is kept. */
export type DeltaUpdateHandler = (update: DeltaUpdate) => void | Promise<void>;

/** Options for {@link DeltaAdsClient}: those of every ADS client. */
export type DeltaAdsClientOptions = AdsClientOptions;

/** Client-side state of one Delta type. */
export interface DeltaTypeState {
  /** Resources held, by name → version (what the client ACKed). */
  held: ReadonlyMap<string, string>;
  systemVersion: string;
  acceptedAt?: Date;
  lastNonce: string;
  lastNack?: { version: string; message: string; at: Date };
}

interface Entry {
  handler: DeltaUpdateHandler;
  held: Map<string, string>;
  systemVersion: string;
  acceptedAt?: Date;
  lastNonce: string;
  lastNack?: { version: string; message: string; at: Date };
  queue: Promise<void>;
}

/** Events: `connected`, `disconnected` (error), `ack` (typeUrl, systemVersion), `nack` (typeUrl, systemVersion, message), `backoff` (ms). */
export class DeltaAdsClient extends AdsStreamClient<Record<string, unknown>, DeltaDiscoveryResponse__Output> {
  private readonly types = new Map<ResourceTypeUrl, Entry>();

  constructor(opts: DeltaAdsClientOptions) {
    super(opts);
  }

  /** Subscribes to every resource of a type (wildcard) with its handler. */
  watch(typeUrl: ResourceTypeUrl, handler: DeltaUpdateHandler): void {
    this.types.set(typeUrl, { handler, held: new Map(), systemVersion: '', lastNonce: '', queue: Promise.resolve() });
    this.subscribeRequest(typeUrl);
  }

  /** Per-type state: held resources and versions, last NACK. */
  state(): Map<ResourceTypeUrl, DeltaTypeState> {
    const out = new Map<ResourceTypeUrl, DeltaTypeState>();
    for (const [k, v] of this.types) out.set(k, { held: v.held, systemVersion: v.systemVersion, acceptedAt: v.acceptedAt, lastNonce: v.lastNonce, lastNack: v.lastNack });
    return out;
  }

  protected open(client: grpc.Client): grpc.ClientDuplexStream<Record<string, unknown>, DeltaDiscoveryResponse__Output> {
    return client.makeBidiStreamRequest(ADS_PATHS.delta, adsCodec.encodeDeltaRequest, adsCodec.decodeDeltaResponse);
  }

  protected resume(): void {
    for (const typeUrl of this.types.keys()) this.subscribeRequest(typeUrl);
  }

  /** The first request of a type on a stream: wildcard, with what the client holds. */
  private subscribeRequest(typeUrl: ResourceTypeUrl): void {
    const t = this.types.get(typeUrl);
    if (!t || !this.stream) return;
    this.write({ type_url: typeUrl, resource_names_subscribe: ['*'], initial_resource_versions: Object.fromEntries(t.held) });
  }

  protected onResponse(res: DeltaDiscoveryResponse__Output): void {
    const typeUrl = res.type_url as ResourceTypeUrl;
    const t = this.types.get(typeUrl);
    if (!t) return;
    t.lastNonce = res.nonce;
    t.queue = t.queue.then(() => this.apply(typeUrl, t, res));
  }

  private async apply(typeUrl: ResourceTypeUrl, t: Entry, res: DeltaDiscoveryResponse__Output): Promise<void> {
    const short = TYPE_SHORT_NAME[typeUrl];
    const resources: DeltaUpdate['resources'] = [];
    let error: string | undefined;
    for (let i = 0; i < res.resources.length && !error; i++) {
      const r = res.resources[i];
      const any = r.resource;
      if (!r.name) error = `${short} response resource #${i} has no name`;
      else if (!any) error = `${short} response resource "${r.name}" carries no resource`;
      else if (any.type_url !== typeUrl) error = `${short} response resource "${r.name}" has type ${any.type_url}, expected ${typeUrl}`;
      else {
        try {
          resources.push({ name: r.name, version: r.version, message: unpack(any), bytes: any.value instanceof Uint8Array ? any.value : undefined });
        } catch (err) {
          error = `${short} response resource "${r.name}": cannot decode: ${(err as Error).message}`;
        }
      }
    }
    const update: DeltaUpdate = { typeUrl, systemVersion: res.system_version_info, nonce: res.nonce, resources, removed: [...res.removed_resources] };
    if (!error) {
      try {
        await t.handler(update);
      } catch (err) {
        error = err instanceof ResourceRejectedError ? err.message : `${short} version ${res.system_version_info}: ${(err as Error).message}`;
      }
    }
    if (error) {
      t.lastNack = { version: res.system_version_info, message: error, at: new Date() };
      this.write({ type_url: typeUrl, response_nonce: res.nonce, error_detail: { code: GrpcCode.INVALID_ARGUMENT, message: error } });
      this.emit('nack', typeUrl, res.system_version_info, error);
      return;
    }
    for (const r of resources) t.held.set(r.name, r.version);
    for (const n of update.removed) t.held.delete(n);
    t.systemVersion = res.system_version_info;
    t.acceptedAt = new Date();
    this.write({ type_url: typeUrl, response_nonce: res.nonce });
    this.emit('ack', typeUrl, res.system_version_info);
  }
}
