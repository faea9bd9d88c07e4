/**
 * The lifecycle both ADS clients share: one gRPC channel, one bidirectional stream at a time,
 * reopened with exponential backoff and full jitter until {@link AdsStreamClient.close}, the
 * node sent on the first request of each stream. The State-of-the-World and Delta clients
 * supply how the stream is opened, what a new stream sends first and what a response does.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import type { Node } from '../types';

/** Reconnect backoff: exponential with full jitter between `initialMs` and `maxMs`. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Options for an ADS client ({@link AdsClient}, {@link DeltaAdsClient}). */
export interface AdsClientOptions {
  /** `host:port` of the ADS server. */
  server: string;
  credentials?: grpc.ChannelCredentials;
  node: Node;
  backoff?: Partial<Backoff>;
  channelOptions?: grpc.ChannelOptions;
}

/** Events: `connected`, `disconnected` (error), `backoff` (ms); subclasses add `ack` and `nack`. */
export abstract class AdsStreamClient<Req extends { node?: unknown }, Res> extends EventEmitter {
  protected stream?: grpc.ClientDuplexStream<Req, Res>;
  private readonly backoff: Backoff;
  private client?: grpc.Client;
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private running = false;
  private sentNode = false;

  protected constructor(protected readonly opts: AdsClientOptions) {
    super();
    this.backoff = { initialMs: opts.backoff?.initialMs ?? 250, maxMs: opts.backoff?.maxMs ?? 30_000 };
  }

  /** Opens the stream on the channel (the service path and codecs). */
  protected abstract open(client: grpc.Client): grpc.ClientDuplexStream<Req, Res>;
  /** Sends what a new stream starts with: one request per subscribed type. */
  protected abstract resume(): void;
  protected abstract onResponse(res: Res): void;

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

  /** Writes a request on the current stream (the stream's first carries the node); none open: dropped. */
  protected write(req: Req): void {
    const stream = this.stream;
    if (!stream) return;
    if (!this.sentNode) {
      req.node = this.opts.node;
      this.sentNode = true;
    }
    stream.write(req);
  }

  private connect(): void {
    if (!this.running || !this.client) return;
    const stream = this.open(this.client);
    this.stream = stream;
    this.sentNode = false;
    let gotResponse = false;
    stream.on('data', (res: Res) => {
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
    this.resume();
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
}
