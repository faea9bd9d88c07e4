/**
 * ADS client core for the proxy (State of the World): subscribes per type, hands decoded
 * resources to the caller's handler, ACKs what the handler applied and NACKs with the handler's
 * reason what it refused (keeping the last accepted version), reconnects with backoff and
 * resumes from its last accepted versions.
 */
import type * as grpc from '@grpc/grpc-js';
import { adsCodec, ADS_PATHS, type OutgoingDiscoveryRequest } from '../proto/ads-service';
import { unpack } from '../proto/codec';
import { GrpcCode, ResourceRejectedError } from '../errors';
import { TYPE_SHORT_NAME, type ResourceTypeUrl } from '../type-urls';
import type { DiscoveryResponse__Output } from '../types';
import { AdsStreamClient, type AdsClientOptions } from './stream-client';

export type { AdsClientOptions, Backoff } from './stream-client';

/**
 * One resource of an update. `message` is decoded from `bytes` on each read when the resource
 * came encoded: read it once, where it is compiled, and do not keep it.
 */
export interface DecodedResource<T = Record<string, unknown>> {
  name: string;
  readonly message: T;
  /** The resource as it arrived (the `Any` value): compact, for change detection and dumps. */
  bytes?: Uint8Array;
}

/** A State-of-the-World update for one type: the full set of subscribed resources at `version`. */
export interface XdsUpdate<T = Record<string, unknown>> {
  typeUrl: ResourceTypeUrl;
  version: string;
  nonce: string;
  resources: DecodedResource<T>[];
}

/**
 * Applies an update. Throw (or reject) to NACK: the error message becomes the NACK's
 * `error_detail.message`, and the previously accepted version stays in force.
 */
export type UpdateHandler = (update: XdsUpdate) => void | Promise<void>;

/** Client-side state of one type. */
export interface ClientTypeState {
  names: string[] | '*';
  acceptedVersion: string;
  acceptedAt?: Date;
  lastNonce: string;
  lastNack?: { version: string; message: string; at: Date };
}

interface TypeEntry extends ClientTypeState {
  handler: UpdateHandler;
  /** Serializes handler calls per type. */
  queue: Promise<void>;
}

/** Name of a resource inside an update: `name`, or `cluster_name` for endpoints. */
/**
 * A resource kept as its bytes: `message` decodes it on each read (take it once), so the decoded
 * form lives only while the handler compiles it.
 */
class EncodedResource implements DecodedResource {
  constructor(readonly name: string, private readonly typeUrl: ResourceTypeUrl, readonly bytes: Uint8Array) {}
  get message(): Record<string, unknown> {
    return unpack({ type_url: this.typeUrl, value: this.bytes });
  }
}

function nameOf(m: Record<string, unknown>): string {
  return (m.name as string) || (m.cluster_name as string) || '';
}

/**
 * Events: `connected`, `disconnected` (error), `ack` (typeUrl, version), `nack` (typeUrl,
 * version, message), `backoff` (ms).
 */
export class AdsClient extends AdsStreamClient<OutgoingDiscoveryRequest, DiscoveryResponse__Output> {
  private readonly types = new Map<ResourceTypeUrl, TypeEntry>();

  constructor(opts: AdsClientOptions) {
    super(opts);
  }

  /** Registers the handler of a type and its subscription (`'*'` for all, LDS/CDS only). */
  watch(typeUrl: ResourceTypeUrl, names: string[] | '*', handler: UpdateHandler): void {
    this.types.set(typeUrl, { names, handler, acceptedVersion: '', lastNonce: '', queue: Promise.resolve() });
    this.sendRequest(typeUrl);
  }

  /** Changes the names subscribed for a type; sends a request when they differ. */
  subscribe(typeUrl: ResourceTypeUrl, names: string[] | '*'): void {
    const t = this.types.get(typeUrl);
    if (!t) throw new Error(`no handler for ${typeUrl}: call watch() first`);
    const same = names === '*' ? t.names === '*' : t.names !== '*' && t.names.length === names.length && t.names.every((n, i) => n === names[i]);
    if (same) return;
    t.names = names === '*' ? '*' : [...names];
    this.sendRequest(typeUrl);
  }

  /** Current per-type state: subscription, accepted version, last NACK. */
  state(): Map<ResourceTypeUrl, ClientTypeState> {
    const out = new Map<ResourceTypeUrl, ClientTypeState>();
    for (const [k, v] of this.types) {
      out.set(k, { names: v.names, acceptedVersion: v.acceptedVersion, acceptedAt: v.acceptedAt, lastNonce: v.lastNonce, lastNack: v.lastNack });
    }
    return out;
  }

  protected open(client: grpc.Client): grpc.ClientDuplexStream<OutgoingDiscoveryRequest, DiscoveryResponse__Output> {
    return client.makeBidiStreamRequest(ADS_PATHS.sotw, adsCodec.encodeRequest, adsCodec.decodeResponse);
  }

  /** Resume: one request per type, carrying the last accepted version and no nonce. */
  protected resume(): void {
    for (const typeUrl of this.types.keys()) this.sendRequest(typeUrl, { resume: true });
  }

  private sendRequest(typeUrl: ResourceTypeUrl, o: { resume?: boolean; error?: string; nonce?: string } = {}): void {
    const t = this.types.get(typeUrl);
    if (!t || !this.stream) return;
    this.write({
      version_info: t.acceptedVersion,
      resource_names: t.names === '*' ? [] : t.names,
      type_url: typeUrl,
      response_nonce: o.resume ? '' : (o.nonce ?? t.lastNonce),
      error_detail: o.error ? { code: GrpcCode.INVALID_ARGUMENT, message: o.error } : null,
    });
  }

  protected onResponse(res: DiscoveryResponse__Output): void {
    const typeUrl = res.type_url as ResourceTypeUrl;
    const t = this.types.get(typeUrl);
    if (!t) return;
    t.lastNonce = res.nonce;
    t.queue = t.queue.then(() => this.apply(typeUrl, t, res));
  }

  private async apply(typeUrl: ResourceTypeUrl, t: TypeEntry, res: DiscoveryResponse__Output): Promise<void> {
    const resources: DecodedResource[] = [];
    let error: string | undefined;
    for (let i = 0; i < res.resources.length && !error; i++) {
      const any = res.resources[i];
      if (any.type_url !== typeUrl) {
        error = `${TYPE_SHORT_NAME[typeUrl]} response resource #${i} has type ${any.type_url}, expected ${typeUrl}`;
        break;
      }
      try {
        // Decoded here to refuse the whole response if any resource is malformed and to name it;
        // that message is dropped at once (it dies young) and `message` decodes again when the
        // handler reads it, so a large update never holds every decoded resource at the same time.
        const name = nameOf(unpack(any));
        resources.push(any.value instanceof Uint8Array ? new EncodedResource(name, typeUrl, any.value) : { name, message: unpack(any) });
      } catch (err) {
        error = `${TYPE_SHORT_NAME[typeUrl]} response resource #${i}: cannot decode: ${(err as Error).message}`;
      }
    }
    if (!error) {
      try {
        await t.handler({ typeUrl, version: res.version_info, nonce: res.nonce, resources });
      } catch (err) {
        error = err instanceof ResourceRejectedError ? err.message : `${TYPE_SHORT_NAME[typeUrl]} version ${res.version_info}: ${(err as Error).message}`;
      }
    }
    // Only answer the latest response: a newer nonce supersedes this one.
    if (t.lastNonce !== res.nonce) return;
    if (error) {
      t.lastNack = { version: res.version_info, message: error, at: new Date() };
      this.sendRequest(typeUrl, { error, nonce: res.nonce });
      this.emit('nack', typeUrl, res.version_info, error);
    } else {
      t.acceptedVersion = res.version_info;
      t.acceptedAt = new Date();
      this.sendRequest(typeUrl, { nonce: res.nonce });
      this.emit('ack', typeUrl, res.version_info);
    }
  }
}
