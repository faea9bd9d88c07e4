/**
 * The ADS transport: gRPC streams, nonces, subscriptions and ACK/NACK tracking for State of the
 * World (`StreamAggregatedResources`) and Delta xDS (`DeltaAggregatedResources`). It knows
 * nothing of how resources are made: it asks a {@link ConfigWatcher} for them.
 */
import * as grpc from '@grpc/grpc-js';
import { HOLDS_NOTHING, type ConfigWatcher, type Cancel, type DeltaWatchResponse, type WatchResponse } from '../cache/snapshot-cache';
import { HeldVersions } from './held-versions';
import { NameSets } from './name-sets';
import { adsServiceDefinition, type OutgoingDeltaDiscoveryResponse, type OutgoingDiscoveryResponse } from '../proto/ads-service';
import { StatusRegistry } from './status';
import { encodeDeltaResponse, encodeSotwResponse } from './response-encoder';
import { isResourceTypeUrl, WILDCARD_TYPES } from '../type-urls';
import type { EncodedResource } from '../resource';
import type { DeltaDiscoveryRequest__Output, DiscoveryRequest__Output, Node__Output } from '../types';

/** Hooks the control plane uses to react to streams (generate a snapshot on connect, log NACKs, ...). */
export interface AdsServerHooks {
  /** A node opened a stream; called before its first watch is created, so a snapshot set here answers it. */
  onStreamOpen?(node: Node__Output, kind: 'sotw' | 'delta'): void;
  onStreamClose?(nodeId: string, kind: 'sotw' | 'delta'): void;
  onAck?(nodeId: string, typeUrl: string, version: string): void;
  onNack?(nodeId: string, typeUrl: string, version: string, detail: { code: number; message: string }): void;
  /** Every request, after the node is known (for tracing and tests). */
  onRequest?(nodeId: string, typeUrl: string, versionInfo: string, responseNonce: string, kind: 'sotw' | 'delta'): void;
  /** A request the server could not use (unknown type URL, stale nonce, ...). */
  onIgnoredRequest?(nodeId: string, typeUrl: string, reason: string): void;
  /** A response was written (its write completed at the stream's flow-control pace). */
  onSent?(nodeId: string, sent: SentResponse): void;
  /** A new stream was refused by the admission rate limit and told to back off. */
  onRateLimited?(peer: string): void;
}

/** What one written response carried. */
export interface SentResponse {
  typeUrl: string;
  version: string;
  nonce: string;
  resources: number;
  /** Bytes of the resources (their encoded `Any` values). */
  bytes: number;
  /** Removed resource names (Delta). */
  removed: number;
  /** From the response being due to its write completing (ms): the wait for a send slot and the stream's flow control. */
  sendMs: number;
  kind: 'sotw' | 'delta';
}

/** Options for {@link AdsServer}. */
export interface AdsServerOptions {
  cache: ConfigWatcher;
  status?: StatusRegistry;
  hooks?: AdsServerHooks;
  /** `control_plane.identifier` set on every response. */
  identifier?: string;
  /**
   * Responses being written at once across all streams (Istio's `PILOT_PUSH_THROTTLE`). A
   * stream's next response is serialized only when it gets a slot, and its slot is freed when
   * the write completes — at the pace of that stream's HTTP/2 flow control — so memory holds at
   * most this many serialized responses however many streams wait. Default 100.
   */
  maxConcurrentSends?: number;
  /**
   * New streams admitted per second (Istio's `PILOT_MAX_REQUESTS_PER_SECOND`); a stream that
   * finds no token within `admissionWaitMs` is refused with RESOURCE_EXHAUSTED so the client
   * backs off and retries. 0 admits every stream at once. Default 100.
   */
  maxNewStreamsPerSecond?: number;
  /** Burst of the admission limit (default: one second's worth). */
  admissionBurst?: number;
  /** Longest wait for an admission token before a stream is refused (ms, default 1000). */
  admissionWaitMs?: number;
}

/** Grants send slots to streams in FIFO order, at most `limit` at once. */
class SendScheduler {
  private active = 0;
  private readonly waiting: { grant(): void }[] = [];
  private head = 0;
  /** Most responses ever being written at once, and most streams ever waiting. */
  peakInFlight = 0;
  peakQueued = 0;
  constructor(readonly limit: number) {}

  /** Queues a stream for one send slot. */
  request(s: { grant(): void }): void {
    if (this.active < this.limit) {
      this.active += 1;
      this.peakInFlight = Math.max(this.peakInFlight, this.active);
      s.grant();
    } else {
      this.waiting.push(s);
      this.peakQueued = Math.max(this.peakQueued, this.waiting.length - this.head);
    }
  }

  /** Frees a slot (the write completed or the stream closed). */
  release(): void {
    this.active -= 1;
    while (this.active < this.limit && this.head < this.waiting.length) {
      const next = this.waiting[this.head];
      this.head += 1;
      this.active += 1;
      this.peakInFlight = Math.max(this.peakInFlight, this.active);
      next.grant();
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Streams waiting for a slot. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  get inFlight(): number {
    return this.active;
  }
}

/** A token bucket for new streams. */
class Admission {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly rate: number, private readonly burst: number) {
    this.tokens = burst;
  }

  /** Delay (ms) until a token is available if one is reserved now, or -1 when over `maxWaitMs`. */
  reserve(maxWaitMs: number): number {
    if (this.rate <= 0) return 0;
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    const wait = ((1 - this.tokens) / this.rate) * 1000;
    if (wait > maxWaitMs) return -1;
    this.tokens -= 1;
    return wait;
  }
}

type Call<Req, Res> = grpc.ServerDuplexStream<Req, Res>;

interface SotwTypeState {
  nonce?: string;
  sentVersion?: string;
  nackedVersion?: string;
  names: ReadonlySet<string>;
  wildcard: boolean;
  lastResponseNames?: ReadonlySet<string>;
  lastResponseWildcard?: boolean;
  /** The snapshot map the last written response brought the client to (for its names). */
  sentFrom?: ReadonlyMap<string, EncodedResource>;
  /** The map (and names) of the last response the client ACKed: the base of incremental responses. */
  ackedMap?: ReadonlyMap<string, EncodedResource>;
  ackedNames?: ReadonlySet<string>;
  cancel?: Cancel;
}

interface DeltaTypeState {
  nonce?: string;
  sentSystemVersion?: string;
  /** Subscribed names: an interned set shared with every stream subscribing to the same names (copied on change). */
  subscribed: ReadonlySet<string>;
  wildcard: boolean;
  /** What the client holds: a view of the snapshot map its last response came from while it holds exactly that. */
  known: HeldVersions;
  /** What the client held before the last response: what it keeps if it NACKs that response. */
  beforeSend?: HeldVersions;
  /** The system version the client last NACKed (not sent again until the snapshot moves on). */
  nackedVersion?: string;
  /** Bumped by every subscription change: a response computed before one is applied name by name, not held as its map. */
  epoch: number;
  cancel?: Cancel;
  started: boolean;
}

/** A response encoded once and written on every stream it is due on (same bytes, same nonce). */
interface SharedEncoding {
  nonce: string;
  message: Buffer;
  bytes: number;
}

/** Aggregated Discovery Service over gRPC. */
export class AdsServer {
  readonly status: StatusRegistry;
  private readonly cache: ConfigWatcher;
  private readonly hooks: AdsServerHooks;
  private readonly identifier: string;
  private readonly streams = new Set<{ close(): void }>();
  private server?: grpc.Server;
  private readonly sends: SendScheduler;
  private readonly admission: Admission;
  private readonly admissionWaitMs: number;
  private readonly shared = new WeakMap<object, SharedEncoding>();
  private readonly nameSets = new NameSets();
  private sharedCounter = 0;

  constructor(opts: AdsServerOptions) {
    this.cache = opts.cache;
    this.status = opts.status ?? new StatusRegistry();
    this.hooks = opts.hooks ?? {};
    this.identifier = opts.identifier ?? 'tsmesh';
    this.sends = new SendScheduler(Math.max(1, opts.maxConcurrentSends ?? 100));
    const rate = opts.maxNewStreamsPerSecond ?? 100;
    this.admission = new Admission(rate, Math.max(1, opts.admissionBurst ?? rate));
    this.admissionWaitMs = opts.admissionWaitMs ?? 1000;
  }

  /** Responses being written and streams waiting for a send slot (now and at most so far). */
  sendQueue(): { inFlight: number; queued: number; peakInFlight: number; peakQueued: number; limit: number } {
    return { inFlight: this.sends.inFlight, queued: this.sends.queued, peakInFlight: this.sends.peakInFlight, peakQueued: this.sends.peakQueued, limit: this.sends.limit };
  }

  /** Adds the ADS service to a gRPC server. */
  register(server: grpc.Server): void {
    // Responses are written as buffers encoded here (see response-encoder.ts); anything else goes
    // through the generated serializer.
    const def = adsServiceDefinition() as unknown as Record<string, { responseSerialize: (m: unknown) => Buffer }>;
    for (const k of Object.keys(def)) {
      const orig = def[k].responseSerialize;
      def[k] = { ...def[k], responseSerialize: (m: unknown) => (Buffer.isBuffer(m) ? m : orig(m)) };
    }
    server.addService(def as unknown as ReturnType<typeof adsServiceDefinition>, {
      StreamAggregatedResources: (call: Call<DiscoveryRequest__Output, OutgoingDiscoveryResponse>) => this.handleSotw(call),
      DeltaAggregatedResources: (call: Call<DeltaDiscoveryRequest__Output, OutgoingDeltaDiscoveryResponse>) => this.handleDelta(call),
    });
  }

  /** Starts a gRPC server of its own on `address` (`host:port`, port 0 for any); returns the bound port. */
  async listen(address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1, 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
    this.register(server);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.server = server;
    return port;
  }

  /** Number of open streams. */
  streamCount(): number {
    return this.streams.size;
  }

  /** Ends every stream and stops the server started by {@link listen}. */
  async close(): Promise<void> {
    for (const s of [...this.streams]) s.close();
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 1000);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  private handleSotw(call: Call<DiscoveryRequest__Output, OutgoingDiscoveryResponse>): void {
    new SotwStream(this, call).start();
  }

  private handleDelta(call: Call<DeltaDiscoveryRequest__Output, OutgoingDeltaDiscoveryResponse>): void {
    new DeltaStream(this, call).start();
  }

  /**
   * The encoding of a response due on many streams (`shared` token from the cache): encoded on
   * first use and written as the same buffer on each stream. Its nonce ("s…", apart from the
   * per-stream ones) is unique on every stream it is written to: a stream gets a given shared
   * response at most once in a row, and Envoy treats nonces as opaque.
   */
  private sharedEncoding(token: object, encode: (nonce: string) => Buffer, resources: readonly { any: { value: Uint8Array } }[]): SharedEncoding {
    let e = this.shared.get(token);
    if (!e) {
      this.sharedCounter += 1;
      const nonce = `s${this.sharedCounter.toString(36)}`;
      let bytes = 0;
      for (const x of resources) bytes += x.any.value.length;
      e = { nonce, message: encode(nonce), bytes };
      this.shared.set(token, e);
    }
    return e;
  }

  /** @internal */
  _internals() {
    return {
      cache: this.cache, hooks: this.hooks, status: this.status, identifier: this.identifier, streams: this.streams, sends: this.sends, admission: this.admission, admissionWaitMs: this.admissionWaitMs,
      sharedEncoding: this.sharedEncoding.bind(this), nameSets: this.nameSets,
    };
  }
}

abstract class StreamBase<Req extends { node?: Node__Output | null }, Res> {
  protected node?: Node__Output;
  protected nonceCounter = 0;
  protected closed = false;
  protected readonly x: ReturnType<AdsServer['_internals']>;
  abstract readonly kind: 'sotw' | 'delta';

  constructor(server: AdsServer, protected readonly call: Call<Req, Res>) {
    this.x = server._internals();
  }

  /** Responses due but not yet written, by type (a newer one replaces an older: pending pushes merge). */
  private readonly outbox = new Map<string, { due: number; write: (done: () => void, due: number) => void }>();
  private waitingForSlot = false;
  private writing = false;
  private releaseWrite?: () => void;

  start(): void {
    this.x.streams.add(this);
    this.call.on('error', () => this.close());
    this.call.on('cancelled', () => this.close());
    const wait = this.x.admission.reserve(this.x.admissionWaitMs);
    if (wait < 0) {
      // Over the new-stream rate: the client backs off and retries (Envoy and AdsClient do).
      this.x.hooks.onRateLimited?.(this.call.getPeer());
      this.fail(grpc.status.RESOURCE_EXHAUSTED, 'too many new xDS streams: retry with backoff');
      return;
    }
    if (wait > 0) setTimeout(() => { if (!this.closed) this.admit(); }, wait);
    else this.admit();
  }

  /** Queues a response for writing when the stream gets a send slot. */
  protected enqueue(typeUrl: string, write: (done: () => void, due: number) => void): void {
    const prev = this.outbox.get(typeUrl);
    this.outbox.set(typeUrl, { due: prev?.due ?? performance.now(), write });
    if (!this.waitingForSlot && !this.writing) {
      this.waitingForSlot = true;
      this.x.sends.request(this);
    }
  }

  /** @internal The scheduler granted a slot: write the oldest due response. */
  grant(): void {
    this.waitingForSlot = false;
    const first = this.outbox.entries().next();
    if (this.closed || first.done) {
      this.x.sends.release();
      return;
    }
    const [typeUrl, item] = first.value;
    this.outbox.delete(typeUrl);
    this.writing = true;
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      this.writing = false;
      this.releaseWrite = undefined;
      this.x.sends.release();
      if (!this.closed && this.outbox.size && !this.waitingForSlot) {
        this.waitingForSlot = true;
        this.x.sends.request(this);
      }
    };
    this.releaseWrite = done;
    try {
      item.write(done, item.due);
    } catch (err) {
      done();
      this.fail(grpc.status.INTERNAL, `xDS response failed: ${(err as Error).message}`);
    }
  }

  private admit(): void {
    this.call.on('data', (req: Req) => {
      try {
        this.onRequest(req);
      } catch (err) {
        this.fail(grpc.status.INTERNAL, `xDS request failed: ${(err as Error).message}`);
      }
    });
    this.call.on('end', () => this.close());
  }

  protected ensureNode(req: Req): boolean {
    if (this.node) return true;
    if (!req.node || !req.node.id) {
      this.fail(grpc.status.INVALID_ARGUMENT, 'the first discovery request on a stream must carry node.id');
      return false;
    }
    this.node = req.node;
    this.x.status.streamOpened(req.node);
    this.x.hooks.onStreamOpen?.(req.node, this.kind);
    return true;
  }

  protected nextNonce(): string {
    this.nonceCounter += 1;
    return this.nonceCounter.toString(36);
  }

  /** A response's bytes and nonce: the shared encoding when the cache marked it shared (`shared` token), else encoded for this stream with its own nonce. */
  protected encodeResponse(shared: object | undefined, resources: readonly { any: { value: Uint8Array } }[], encode: (nonce: string) => Buffer): SharedEncoding {
    if (shared) return this.x.sharedEncoding(shared, encode, resources);
    const nonce = this.nextNonce();
    let bytes = 0;
    for (const x of resources) bytes += x.any.value.length;
    return { nonce, message: encode(nonce), bytes };
  }

  protected fail(code: grpc.status, details: string): void {
    if (this.closed) return;
    try {
      this.call.emit('error', { code, details });
    } catch {
      // stream already gone
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelAll();
    this.outbox.clear();
    // A write that never completes (the peer is gone) must not keep its send slot.
    this.releaseWrite?.();
    this.x.streams.delete(this);
    if (this.node) {
      this.x.status.streamClosed(this.node.id);
      this.x.hooks.onStreamClose?.(this.node.id, this.kind);
    }
    try {
      this.call.end();
    } catch {
      // already ended
    }
  }

  protected abstract onRequest(req: Req): void;
  protected abstract cancelAll(): void;
}

class SotwStream extends StreamBase<DiscoveryRequest__Output, OutgoingDiscoveryResponse> {
  readonly kind = 'sotw' as const;
  private readonly types = new Map<string, SotwTypeState>();

  protected onRequest(req: DiscoveryRequest__Output): void {
    if (!this.ensureNode(req)) return;
    const nodeId = this.node!.id;
    const typeUrl = req.type_url;
    this.x.hooks.onRequest?.(nodeId, typeUrl, req.version_info, req.response_nonce, 'sotw');
    if (!isResourceTypeUrl(typeUrl)) {
      this.x.hooks.onIgnoredRequest?.(nodeId, typeUrl, `unknown type URL "${typeUrl}"`);
      return;
    }
    let st = this.types.get(typeUrl);
    if (!st) {
      st = { names: new Set(), wildcard: false };
      this.types.set(typeUrl, st);
    }
    if (req.response_nonce && st.nonce !== undefined && req.response_nonce !== st.nonce) {
      // Stale: answers a response that was superseded; Envoy's protocol says to ignore it.
      this.x.hooks.onIgnoredRequest?.(nodeId, typeUrl, `stale nonce ${req.response_nonce} (latest ${st.nonce})`);
      return;
    }
    if (req.response_nonce && req.response_nonce === st.nonce) {
      if (req.error_detail) {
        const detail = { code: req.error_detail.code ?? 0, message: req.error_detail.message ?? '' };
        st.nackedVersion = st.sentVersion;
        // A NACK carries the version the client keeps running (the last it accepted).
        this.x.status.nacked(nodeId, typeUrl, st.sentVersion ?? '', st.nonce, detail.code, detail.message, req.version_info);
        this.x.hooks.onNack?.(nodeId, typeUrl, st.sentVersion ?? '', detail);
      } else {
        st.nackedVersion = undefined;
        st.ackedMap = st.sentFrom;
        st.ackedNames = st.lastResponseNames;
        this.x.status.acked(nodeId, typeUrl, req.version_info);
        this.x.hooks.onAck?.(nodeId, typeUrl, req.version_info);
      }
    }
    // One set per request, never mutated after: the state, the watch and the response share it.
    const fresh = new Set<string>();
    for (const n of req.resource_names) fresh.add(this.x.cache.canonicalName?.(nodeId, typeUrl, n) ?? n);
    const wildcardAsked = fresh.delete('*');
    const names = this.x.nameSets.intern(fresh);
    st.wildcard = wildcardAsked || (names.size === 0 && WILDCARD_TYPES.has(typeUrl));
    st.names = names;
    if (st.nonce === undefined && st.lastResponseNames === undefined && req.version_info) {
      // A client resuming on a new stream already holds these names at this version: answer only
      // when the snapshot has moved on, and record that it holds it (status SYNCED, not unknown).
      st.lastResponseNames = names;
      st.lastResponseWildcard = st.wildcard;
      this.x.status.resumed(nodeId, typeUrl, req.version_info);
    }
    st.cancel?.();
    const state = st;
    const requestNames = names;
    const wildcard = st.wildcard;
    state.cancel = this.x.cache.createWatch(
      { nodeId, typeUrl, resourceNames: requestNames, wildcard, versionInfo: req.version_info },
      {
        lastResponseNames: st.lastResponseNames, lastResponseWildcard: st.lastResponseWildcard, nackedVersion: st.nackedVersion,
        ackedMap: st.ackedMap && st.ackedNames === names && !wildcard ? st.ackedMap : undefined,
      },
      (r) => this.send(state, r, requestNames, wildcard),
    );
  }

  private send(st: SotwTypeState, r: WatchResponse, names: ReadonlySet<string>, wildcard: boolean): void {
    if (this.closed) return;
    st.cancel = undefined;
    // Serialized only when the stream gets a send slot; a newer response for the type replaces this one.
    this.enqueue(r.typeUrl, (done, due) => {
      const { nonce, message: msg, bytes } = this.encodeResponse(r.shared, r.resources, (n) => encodeSotwResponse({ version: r.version, typeUrl: r.typeUrl, nonce: n, identifier: this.x.identifier, resources: r.resources }));
      st.nonce = nonce;
      st.sentVersion = r.version;
      st.lastResponseNames = names;
      st.lastResponseWildcard = wildcard;
      st.sentFrom = r.from;
      (this.call as unknown as { write(b: Buffer, cb: () => void): void }).write(msg, () => {
        done();
        this.x.hooks.onSent?.(this.node!.id, { typeUrl: r.typeUrl, version: r.version, nonce, resources: r.resources.length, bytes, removed: 0, sendMs: performance.now() - due, kind: 'sotw' });
      });
      this.x.status.sent(this.node!.id, r.typeUrl, r.version, nonce);
    });
  }

  protected cancelAll(): void {
    for (const st of this.types.values()) st.cancel?.();
  }
}

class DeltaStream extends StreamBase<DeltaDiscoveryRequest__Output, OutgoingDeltaDiscoveryResponse> {
  readonly kind = 'delta' as const;
  private readonly types = new Map<string, DeltaTypeState>();

  protected onRequest(req: DeltaDiscoveryRequest__Output): void {
    if (!this.ensureNode(req)) return;
    const nodeId = this.node!.id;
    const typeUrl = req.type_url;
    this.x.hooks.onRequest?.(nodeId, typeUrl, '', req.response_nonce, 'delta');
    if (!isResourceTypeUrl(typeUrl)) {
      this.x.hooks.onIgnoredRequest?.(nodeId, typeUrl, `unknown type URL "${typeUrl}"`);
      return;
    }
    let st = this.types.get(typeUrl);
    if (!st) {
      st = { subscribed: new Set(), wildcard: false, known: new HeldVersions(), epoch: 0, started: false };
      this.types.set(typeUrl, st);
    }
    if (req.response_nonce && st.nonce !== undefined && req.response_nonce !== st.nonce) {
      this.x.hooks.onIgnoredRequest?.(nodeId, typeUrl, `stale nonce ${req.response_nonce} (latest ${st.nonce})`);
    } else if (req.response_nonce && req.response_nonce === st.nonce) {
      if (req.error_detail) {
        const detail = { code: req.error_detail.code ?? 0, message: req.error_detail.message ?? '' };
        // The client kept what it held before the refused response: the next one is computed from that.
        if (st.beforeSend) {
          st.known = st.beforeSend;
          st.epoch += 1;
        }
        st.beforeSend = undefined;
        st.nackedVersion = st.sentSystemVersion;
        this.x.status.nacked(nodeId, typeUrl, st.sentSystemVersion ?? '', st.nonce, detail.code, detail.message);
        this.x.hooks.onNack?.(nodeId, typeUrl, st.sentSystemVersion ?? '', detail);
      } else {
        st.beforeSend = undefined;
        st.nackedVersion = undefined;
        this.x.status.acked(nodeId, typeUrl, st.sentSystemVersion ?? '');
        this.x.hooks.onAck?.(nodeId, typeUrl, st.sentSystemVersion ?? '');
      }
    }
    const first = !st.started;
    const canonical = (n: string) => this.x.cache.canonicalName?.(nodeId, typeUrl, n) ?? n;
    // A subscription change leaves the client holding less than (or other than) a snapshot map.
    if (req.resource_names_subscribe.length || req.resource_names_unsubscribe.length || first) {
      st.known.own();
      st.epoch += 1;
    }
    const initial = Object.entries(req.initial_resource_versions ?? {});
    if (!st.started) {
      st.started = true;
      for (const [name, version] of initial) st.known.set(canonical(name), version);
      // LDS and CDS with nothing named on the first request subscribe to everything.
      if (req.resource_names_subscribe.length === 0 && WILDCARD_TYPES.has(typeUrl)) st.wildcard = true;
    }
    if (req.resource_names_subscribe.length || req.resource_names_unsubscribe.length) {
      const next = new Set(st.subscribed);
      for (const n of req.resource_names_subscribe) {
        if (n === '*') st.wildcard = true;
        else next.add(canonical(n));
      }
      for (const n of req.resource_names_unsubscribe) {
        if (n === '*') st.wildcard = false;
        else {
          next.delete(n);
          st.known.delete(n);
        }
      }
      st.subscribed = this.x.nameSets.intern(next);
    }
    // A new client holding nothing holds exactly the empty map: its first response is the one
    // every new stream of the same snapshot gets.
    if (first && initial.length === 0) st.known.hold(HOLDS_NOTHING, st.wildcard ? undefined : st.subscribed);
    // A client resuming with exactly what the node's snapshot has (a control-plane restart under
    // unchanged config) holds that very map: no copy is kept and nothing is diffed or sent.
    if (first && initial.length) {
      const map = this.x.cache.resourcesOf?.(nodeId, typeUrl);
      const filter = st.wildcard ? undefined : st.subscribed;
      if (map && st.known.equals(map, filter)) st.known.hold(map, filter);
    }
    st.cancel?.();
    const state = st;
    const resuming = first && initial.length > 0;
    let answered = false;
    state.cancel = this.x.cache.createDeltaWatch(
      // The stream's own sets, read when the watch fires (no copy per request: they change only when a response is written or a request arrives, and a request replaces the watch).
      { nodeId, typeUrl, wildcard: st.wildcard, subscribed: st.subscribed, known: st.known, held: st.known.held, nackedVersion: st.nackedVersion },
      (r) => {
        answered = true;
        this.send(state, r);
      },
    );
    // A client resuming with every resource it needs already at the current versions (nothing to
    // send): it holds the snapshot's version of this type.
    const held = resuming && !answered ? this.x.cache.versionOf?.(nodeId, typeUrl) : undefined;
    if (held) this.x.status.resumed(nodeId, typeUrl, held);
  }

  private send(st: DeltaTypeState, r: DeltaWatchResponse): void {
    if (this.closed) return;
    st.cancel = undefined;
    const epoch = st.epoch;
    this.enqueue(r.typeUrl, (done, due) => {
      const { nonce, message: msg, bytes } = this.encodeResponse(r.shared, r.resources, (n) => encodeDeltaResponse({ systemVersion: r.systemVersion, typeUrl: r.typeUrl, nonce: n, identifier: this.x.identifier, resources: r.resources, removed: r.removed }));
      st.nonce = nonce;
      st.sentSystemVersion = r.systemVersion;
      st.beforeSend = st.known;
      st.known = st.known.clone();
      if (r.from && epoch === st.epoch) {
        // The client now holds exactly the snapshot map (for its subscription): keep a reference, not a copy.
        st.known.hold(r.from, st.wildcard ? undefined : st.subscribed);
      } else {
        for (const res of r.resources) st.known.set(res.name, res.version);
        for (const name of r.removed) st.known.delete(name);
      }
      (this.call as unknown as { write(b: Buffer, cb: () => void): void }).write(msg, () => {
        done();
        this.x.hooks.onSent?.(this.node!.id, { typeUrl: r.typeUrl, version: r.systemVersion, nonce, resources: r.resources.length, bytes, removed: r.removed.length, sendMs: performance.now() - due, kind: 'delta' });
      });
      this.x.status.sent(this.node!.id, r.typeUrl, r.systemVersion, nonce);
    });
  }

  protected cancelAll(): void {
    for (const st of this.types.values()) st.cancel?.();
  }
}
