/**
 * Simulated proxies for the control-plane benchmark: each one a real gRPC ADS stream on its own
 * HTTP/2 connection that behaves like Envoy's subscription flow — CDS and LDS wildcard, then EDS
 * for the clusters it got and RDS for the HTTP listeners it got — ACKs every response at once,
 * and reconnects with jittered exponential backoff when its stream fails (after a control-plane
 * restart or a RESOURCE_EXHAUSTED from the admission limit), resuming with the versions it holds
 * (Delta `initial_resource_versions`, SotW `version_info`), as Envoy does.
 *
 * With `vhds` a simulated proxy mimics the tsmesh proxy: its node declares the VHDS client feature
 * and it subscribes to VirtualHost by wildcard — on its Delta ADS stream, or with SotW on a Delta
 * stream of its own beside it (the tsmesh proxy's way). Without, it is a full-RDS client (gRPC,
 * plain Envoy).
 *
 * Responses are read at the envelope: version, type URL, nonce, and each resource's name and
 * version (Delta) or name (SotW, field 1 of the resource) — no resource is decoded — so the
 * benchmark measures the control plane, not the simulator. The worker reports its own CPU.
 * Driven over IPC.
 */
import * as grpc from '@grpc/grpc-js';
import { adsCodec, ADS_PATHS, CLIENT_FEATURE_VHDS, TypeUrl } from '@tsmesh/xds';

interface TypeState {
  version: string;
  nonce: string;
  changedAt: number;
  /** Subscribed names (EDS, RDS) in order. */
  names: string[];
  count: number;
  /** Delta: name → version held. SotW: name → ''. */
  known: Map<string, string>;
}

interface Sim {
  id: string;
  client?: grpc.Client;
  call?: grpc.ClientDuplexStream<Buffer, Buffer>;
  /** SotW with VHDS: the Delta stream carrying VirtualHost (as the tsmesh proxy opens beside its SotW stream). */
  vcall?: grpc.ClientDuplexStream<Buffer, Buffer>;
  vattempt: number;
  types: Map<string, TypeState>;
  errors: number;
  rateLimited: number;
  reconnects: number;
  attempt: number;
  connectedAt: number;
}

const sims: Sim[] = [];
let bytes = 0;
let server = '';
let delta = true;
/** Mimic tsmesh proxies: declare VHDS and subscribe to VirtualHost by wildcard. */
let vhds = false;
const nodeOf = (s: Sim) => ({ id: s.id, cluster: s.id.split('~')[2].split('.')[0], ...(vhds ? { client_features: [CLIENT_FEATURE_VHDS] } : {}) });

/** One copy of each name and version string across simulated proxies. */
const interned = new Map<string, string>();
const intern = (s: string) => {
  const hit = interned.get(s);
  if (hit !== undefined) return hit;
  interned.set(s, s);
  return s;
};

// ---------- protobuf wire reading (envelope only) ----------
class Reader {
  i = 0;
  constructor(readonly b: Buffer, readonly end = b.length) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const x = this.b[this.i++];
      v += (x & 0x7f) * mul;
      if (!(x & 0x80)) return v;
      mul *= 128;
    }
  }
  /** Next field: number, wire type, and for length-delimited fields the [start, end) span. */
  next(): { no: number; wt: number; start: number; stop: number } | null {
    if (this.i >= this.end) return null;
    const key = this.varint();
    const wt = key & 7;
    const no = Math.floor(key / 8);
    if (wt === 2) {
      const len = this.varint();
      const start = this.i;
      this.i += len;
      return { no, wt, start, stop: start + len };
    }
    if (wt === 0) this.varint();
    else if (wt === 1) this.i += 8;
    else if (wt === 5) this.i += 4;
    else throw new Error(`wire type ${wt}`);
    return { no, wt, start: 0, stop: 0 };
  }
  str(start: number, stop: number): string {
    return this.b.toString('utf8', start, stop);
  }
}

/** Field 1 (the name) of an encoded Listener, Cluster or RouteConfiguration inside `Any.value` (Any field 2). */
function anyName(b: Buffer, start: number, stop: number): string {
  const any = new Reader(b, stop);
  any.i = start;
  for (let f = any.next(); f; f = any.next()) {
    if (f.no !== 2) continue;
    const m = new Reader(b, f.stop);
    m.i = f.start;
    for (let g = m.next(); g; g = m.next()) if (g.no === 1 && g.wt === 2) return m.str(g.start, g.stop);
  }
  return '';
}

interface Envelope { version: string; typeUrl: string; nonce: string; resources: { name: string; version: string }[]; removed: string[]; size: number }

/** DiscoveryResponse: 1 version_info, 2 resources (Any), 4 type_url, 5 nonce. DeltaDiscoveryResponse: 1 system_version_info, 2 resources (Resource: 1 version, 2 resource, 3 name), 4 type_url, 5 nonce, 6 removed_resources. */
function readEnvelope(b: Buffer, isDelta: boolean, wantNames: (typeUrl: string) => boolean): Envelope {
  const r = new Reader(b);
  const e: Envelope = { version: '', typeUrl: '', nonce: '', resources: [], removed: [], size: b.length };
  const spans: [number, number][] = [];
  for (let f = r.next(); f; f = r.next()) {
    if (f.wt !== 2) continue;
    if (f.no === 1) e.version = r.str(f.start, f.stop);
    else if (f.no === 2) spans.push([f.start, f.stop]);
    else if (f.no === 4) e.typeUrl = r.str(f.start, f.stop);
    else if (f.no === 5) e.nonce = r.str(f.start, f.stop);
    else if (f.no === 6 && isDelta) e.removed.push(r.str(f.start, f.stop));
  }
  const names = isDelta || wantNames(e.typeUrl);
  if (names) {
    for (const [s, t] of spans) {
      if (isDelta) {
        const m = new Reader(b, t);
        m.i = s;
        let name = '';
        let version = '';
        for (let g = m.next(); g; g = m.next()) {
          if (g.no === 3 && g.wt === 2) name = m.str(g.start, g.stop);
          else if (g.no === 1 && g.wt === 2) version = m.str(g.start, g.stop);
        }
        e.resources.push({ name: intern(name), version: intern(version) });
      } else {
        e.resources.push({ name: intern(anyName(b, s, t)), version: '' });
      }
    }
  } else {
    for (let k = 0; k < spans.length; k++) e.resources.push({ name: '', version: '' });
  }
  return e;
}

// ---------- the Envoy-like flow ----------
const state = (s: Sim, t: string): TypeState => {
  let st = s.types.get(t);
  if (!st) s.types.set(t, (st = { version: '', nonce: '', changedAt: 0, names: [], count: 0, known: new Map() }));
  return st;
};

function sotwRequest(s: Sim, typeUrl: string, names: string[], first = false): void {
  const st = s.types.get(typeUrl);
  s.call!.write(adsCodec.encodeRequest({
    version_info: st?.version ?? '', resource_names: names, type_url: typeUrl, response_nonce: first ? '' : (st?.nonce ?? ''),
    ...(first ? { node: nodeOf(s) } : {}),
  }));
}

function deltaRequest(s: Sim, typeUrl: string, subscribe: string[], unsubscribe: string[], nonce = '', first = false, initial?: Map<string, string>, call = s.call): void {
  call!.write(adsCodec.encodeDeltaRequest({
    type_url: typeUrl, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe, response_nonce: nonce,
    ...(initial?.size ? { initial_resource_versions: Object.fromEntries(initial) } : {}),
    ...(first ? { node: nodeOf(s) } : {}),
  } as never));
}

const sameNames = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const edsNames = (known: Map<string, string>) => [...known.keys()].filter((n) => n.startsWith('outbound|')).sort();
const rdsNames = (known: Map<string, string>) => [...known.keys()].map((n) => /^0\.0\.0\.0_(\d+)$/.exec(n)?.[1]).filter((x): x is string => !!x).sort();

function onSotw(s: Sim, e: Envelope): void {
  const st = state(s, e.typeUrl);
  if (st.version !== e.version) st.changedAt = Date.now();
  st.version = e.version;
  st.nonce = e.nonce;
  st.count += 1;
  if (e.typeUrl === TypeUrl.Cluster || e.typeUrl === TypeUrl.Listener) {
    st.known = new Map(e.resources.map((r) => [r.name, '']));
  }
  sotwRequest(s, e.typeUrl, st.names);
  const follow = (dep: string, want: string[]) => {
    const d = state(s, dep);
    if (!sameNames(d.names, want)) {
      d.names = want;
      sotwRequest(s, dep, want);
    }
  };
  if (e.typeUrl === TypeUrl.Cluster) follow(TypeUrl.ClusterLoadAssignment, edsNames(st.known));
  else if (e.typeUrl === TypeUrl.Listener) follow(TypeUrl.RouteConfiguration, rdsNames(st.known));
}

function onDelta(s: Sim, e: Envelope, call = s.call): void {
  const st = state(s, e.typeUrl);
  for (const r of e.resources) st.known.set(r.name, r.version);
  for (const n of e.removed) st.known.delete(n);
  if (st.version !== e.version) st.changedAt = Date.now();
  st.version = e.version;
  st.nonce = e.nonce;
  st.count += 1;
  deltaRequest(s, e.typeUrl, [], [], e.nonce, false, undefined, call);
  const follow = (dep: string, want: string[]) => {
    const d = state(s, dep);
    const have = new Set(d.names);
    const wantSet = new Set(want);
    const sub = want.filter((n) => !have.has(n));
    const unsub = d.names.filter((n) => !wantSet.has(n));
    if (sub.length || unsub.length) {
      d.names = want;
      for (const n of unsub) d.known.delete(n);
      deltaRequest(s, dep, sub, unsub);
    }
  };
  if (e.typeUrl === TypeUrl.Cluster) follow(TypeUrl.ClusterLoadAssignment, edsNames(st.known));
  else if (e.typeUrl === TypeUrl.Listener) follow(TypeUrl.RouteConfiguration, rdsNames(st.known));
}

function connect(s: Sim): void {
  if (!s.client) {
    s.client = new grpc.Client(server, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1,
      // Istio's bootstrap keepalive on the xDS connection.
      'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000,
      // Reconnecting is the stream's backoff below (as Envoy's), not a second one in the channel.
      'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 1000,
    });
  }
  const call = (delta
    ? s.client.makeBidiStreamRequest(ADS_PATHS.delta, (b: Buffer) => b, (b: Buffer) => b)
    : s.client.makeBidiStreamRequest(ADS_PATHS.sotw, (b: Buffer) => b, (b: Buffer) => b)) as grpc.ClientDuplexStream<Buffer, Buffer>;
  s.call = call;
  s.connectedAt = Date.now();
  let answered = false;
  call.on('data', (b: Buffer) => {
    if (!answered) {
      answered = true;
      s.attempt = 0;
    }
    bytes += b.length;
    const e = readEnvelope(b, delta, (t) => t === TypeUrl.Cluster || t === TypeUrl.Listener);
    if (delta) onDelta(s, e);
    else onSotw(s, e);
  });
  const gone = (err?: grpc.ServiceError) => {
    if (s.call !== call) return;
    s.errors += 1;
    if (process.env.BENCH_DEBUG && s.errors === 1) process.stderr.write(`${s.id}: ${err?.code ?? 'end'} ${err?.message ?? 'stream ended'}\n`);
    if (err?.code === grpc.status.RESOURCE_EXHAUSTED) s.rateLimited += 1;
    s.call = undefined;
    // Envoy's xDS retry: jittered exponential backoff (base 500 ms, at most 30 s).
    const cap = Math.min(30_000, 500 * 2 ** s.attempt);
    s.attempt += 1;
    setTimeout(() => { s.reconnects += 1; connect(s); }, 250 + Math.random() * cap);
  };
  call.on('error', (err: grpc.ServiceError) => gone(err));
  call.on('end', () => gone());
  if (delta) {
    const cds = state(s, TypeUrl.Cluster);
    const lds = state(s, TypeUrl.Listener);
    deltaRequest(s, TypeUrl.Cluster, [], [], '', true, cds.known);
    deltaRequest(s, TypeUrl.Listener, [], [], '', false, lds.known);
    for (const t of [TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration]) {
      const d = s.types.get(t);
      if (d?.names.length) deltaRequest(s, t, d.names, [], '', false, d.known);
    }
    // VHDS on the same (Delta) ADS stream: every virtual host of the proxy's route tables.
    if (vhds) deltaRequest(s, TypeUrl.VirtualHost, ['*'], [], '', false, state(s, TypeUrl.VirtualHost).known);
  } else {
    if (vhds && !s.vcall) connectVhds(s);
    sotwRequest(s, TypeUrl.Cluster, [], true);
    sotwRequest(s, TypeUrl.Listener, []);
    for (const t of [TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration]) {
      const d = s.types.get(t);
      if (d?.names.length) sotwRequest(s, t, d.names);
    }
  }
}

/** SotW with VHDS: a Delta stream on the same connection for VirtualHost only (what the tsmesh proxy does beside its SotW stream). */
function connectVhds(s: Sim): void {
  const call = s.client!.makeBidiStreamRequest(ADS_PATHS.delta, (b: Buffer) => b, (b: Buffer) => b) as grpc.ClientDuplexStream<Buffer, Buffer>;
  s.vcall = call;
  call.on('data', (b: Buffer) => {
    s.vattempt = 0;
    bytes += b.length;
    onDelta(s, readEnvelope(b, true, () => true), call);
  });
  const gone = (err?: grpc.ServiceError) => {
    if (s.vcall !== call) return;
    s.errors += 1;
    if (err?.code === grpc.status.RESOURCE_EXHAUSTED) s.rateLimited += 1;
    s.vcall = undefined;
    const cap = Math.min(30_000, 500 * 2 ** s.vattempt);
    s.vattempt += 1;
    setTimeout(() => { s.reconnects += 1; connectVhds(s); }, 250 + Math.random() * cap);
  };
  call.on('error', (err: grpc.ServiceError) => gone(err));
  call.on('end', () => gone());
  deltaRequest(s, TypeUrl.VirtualHost, ['*'], [], '', true, state(s, TypeUrl.VirtualHost).known, call);
}

const SHORT: Record<string, string> = { [TypeUrl.Cluster]: 'CDS', [TypeUrl.ClusterLoadAssignment]: 'EDS', [TypeUrl.Listener]: 'LDS', [TypeUrl.RouteConfiguration]: 'RDS', [TypeUrl.VirtualHost]: 'VHDS' };
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

process.on('message', (m: { cmd: string; server?: string; ids?: string[]; delta?: boolean; vhds?: boolean; type?: string; since?: number }) => {
  if (m.cmd === 'synced') {
    const types: string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, ...(vhds ? [TypeUrl.VirtualHost] : [])];
    process.send!({
      synced: sims.filter((s) => types.every((t) => s.types.get(t)?.version)).length,
      errors: sims.reduce((a, s) => a + s.errors, 0), rateLimited: sims.reduce((a, s) => a + s.rateLimited, 0),
      reconnects: sims.reduce((a, s) => a + s.reconnects, 0), connected: sims.filter((s) => s.call && (!vhds || delta || s.vcall)).length, bytes, cpuSec: cpu(),
    });
  } else if (m.cmd === 'changes') {
    const t = Object.keys(SHORT).find((k) => SHORT[k] === m.type)!;
    process.send!({ changes: sims.filter((s) => (s.types.get(t)?.changedAt ?? 0) >= m.since!).map((s) => ({ id: s.id, at: s.types.get(t)!.changedAt, v: s.types.get(t)!.version })) });
  } else if (m.cmd === 'start') {
    server = m.server!;
    delta = !!m.delta;
    vhds = !!m.vhds;
    for (const id of m.ids!) {
      const s: Sim = { id, types: new Map(), errors: 0, rateLimited: 0, reconnects: 0, attempt: 0, vattempt: 0, connectedAt: 0 };
      sims.push(s);
      connect(s);
    }
    process.send!({ started: sims.length });
  } else if (m.cmd === 'exit') {
    for (const s of sims) {
      s.call?.cancel();
      s.vcall?.cancel();
      s.client?.close();
    }
    process.exit(0);
  }
});
process.send!({ ready: true });
