/**
 * Delta xDS client core (`DeltaAggregatedResources`): subscribes per type (wildcard, or by name),
 * hands each response's changed resources and removed names to the caller's handler, ACKs what
 * the handler applied and NACKs with the handler's reason what it refused (the client keeps the
 * resources it last accepted), and on a new stream resumes with `initial_resource_versions` of
 * what it holds. The proxy uses it for VHDS (`envoy.config.route.v3.VirtualHost`).
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { adsCodec, ADS_PATHS } from '../proto/ads-service';
import { unpack } from '../proto/codec';
import { GrpcCode, ResourceRejectedError } from '../errors';
import { TYPE_SHORT_NAME, type ResourceTypeUrl } from '../type-urls';
import type { DeltaDiscoveryResponse__Output, Node } from '../types';
import type { Backoff, DecodedResource } from './ads-client';

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

/** Options for {@link DeltaAdsClient}. */
export interface DeltaAdsClientOptions {
  server: string;
  credentials?: grpc.ChannelCredentials;
  node: Node;
  backoff?: Partial<Backoff>;
  channelOptions?: grpc.ChannelOptions;
}

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
export class DeltaAdsClient extends EventEmitter {
  private readonly backoff: Backoff;
  private readonly types = new Map<ResourceTypeUrl, Entry>();
  private client?: grpc.Client;
  private stream?: grpc.ClientDuplexStream<object, DeltaDiscoveryResponse__Output>;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private running = false;
  private sentNode = false;

  constructor(private readonly opts: DeltaAdsClientOptions) {
    super();
    this.backoff = { initialMs: opts.backoff?.initialMs ?? 250, maxMs: opts.backoff?.maxMs ?? 30_000 };
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

  /** Opens the stream (and keeps reopening it until {@link close}). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.client = new grpc.Client(this.opts.server, this.opts.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      ...this.opts.channelOptions,
    });
    this.connect();
  }

  /** Closes the stream and stops reconnecting. */
  close(): void {
    this.running = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    this.client?.close();
    this.client = undefined;
  }

  private connect(): void {
    if (!this.running || !this.client) return;
    const stream = this.client.makeBidiStreamRequest(ADS_PATHS.delta, adsCodec.encodeDeltaRequest, adsCodec.decodeDeltaResponse);
    this.stream = stream;
    this.sentNode = false;
    let gotResponse = false;
    stream.on('data', (res: DeltaDiscoveryResponse__Output) => {
      if (!gotResponse) {
        gotResponse = true;
        this.attempt = 0;
        this.emit('connected');
      }
      this.onResponse(res);
    });
    const onGone = (err?: Error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.emit('disconnected', err);
      this.scheduleReconnect();
    };
    stream.on('error', onGone);
    stream.on('end', () => onGone());
    for (const typeUrl of this.types.keys()) this.subscribeRequest(typeUrl);
  }

  private scheduleReconnect(): void {
    if (!this.running || this.retryTimer) return;
    const cap = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    const delay = Math.max(this.backoff.initialMs / 2, Math.random() * cap);
    this.attempt += 1;
    this.emit('backoff', delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  private write(req: Record<string, unknown>): void {
    const stream = this.stream;
    if (!stream) return;
    if (!this.sentNode) {
      req.node = this.opts.node;
      this.sentNode = true;
    }
    stream.write(req);
  }

  /** The first request of a type on a stream: wildcard, with what the client holds. */
  private subscribeRequest(typeUrl: ResourceTypeUrl): void {
    const t = this.types.get(typeUrl);
    if (!t || !this.stream) return;
    this.write({ type_url: typeUrl, resource_names_subscribe: ['*'], initial_resource_versions: Object.fromEntries(t.held) });
  }

  private onResponse(res: DeltaDiscoveryResponse__Output): void {
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
