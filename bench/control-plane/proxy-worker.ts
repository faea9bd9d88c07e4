/**
 * Simulated proxies for the control-plane benchmark: each one a real gRPC ADS stream (State of
 * the World) on its own HTTP/2 connection that behaves like Envoy's subscription flow — CDS and
 * LDS wildcard, then EDS for the clusters it got and RDS for the HTTP listeners it got — and ACKs
 * every response at once. It records when each type's version last changed. Driven over IPC.
 */
import * as grpc from '@grpc/grpc-js';
import { adsCodec, ADS_PATHS, TypeUrl, type DeltaDiscoveryResponse__Output, type DiscoveryResponse__Output } from '@tsmesh/xds';

interface TypeState { version: string; nonce: string; changedAt: number; names: string[]; count: number }
interface Sim {
  id: string;
  client: grpc.Client;
  delta: boolean;
  call: grpc.ClientDuplexStream<object, DiscoveryResponse__Output & DeltaDiscoveryResponse__Output>;
  types: Map<string, TypeState>;
  errors: number;
}

const sims: Sim[] = [];
let bytes = 0;

/** Reads field 1 (the name) of an encoded Listener, Cluster or RouteConfiguration. */
function nameOf(b: Uint8Array): string {
  if (b[0] !== 0x0a) return '';
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < b.length; i++) {
    len |= (b[i] & 0x7f) << shift;
    shift += 7;
    if (!(b[i] & 0x80)) break;
  }
  return Buffer.from(b.buffer, b.byteOffset + i + 1, len).toString('utf8');
}

function request(s: Sim, typeUrl: string, names: string[], first = false): void {
  const st = s.types.get(typeUrl);
  s.call.write({
    version_info: st?.version ?? '', resource_names: names, type_url: typeUrl, response_nonce: st?.nonce ?? '',
    ...(first ? { node: { id: s.id, cluster: s.id.split('~')[2].split('.')[0] } } : {}),
  });
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function onResponse(s: Sim, res: DiscoveryResponse__Output): void {
  const t = res.type_url;
  let st = s.types.get(t);
  if (!st) s.types.set(t, (st = { version: '', nonce: '', changedAt: 0, names: [], count: 0 }));
  for (const r of res.resources) bytes += (r.value as Uint8Array).length;
  if (st.version !== res.version_info) st.changedAt = Date.now();
  st.version = res.version_info;
  st.nonce = res.nonce;
  st.count += 1;
  request(s, t, st.names);
  if (t === TypeUrl.Cluster) {
    const eds = res.resources.map((r) => nameOf(r.value as Uint8Array)).filter((n) => n.startsWith('outbound|')).sort();
    const e = s.types.get(TypeUrl.ClusterLoadAssignment) ?? { version: '', nonce: '', changedAt: 0, names: [], count: 0 };
    s.types.set(TypeUrl.ClusterLoadAssignment, e);
    if (!sameNames(e.names, eds)) {
      e.names = eds;
      request(s, TypeUrl.ClusterLoadAssignment, eds);
    }
  } else if (t === TypeUrl.Listener) {
    const rds = res.resources.map((r) => /^0\.0\.0\.0_(\d+)$/.exec(nameOf(r.value as Uint8Array))?.[1]).filter((x): x is string => !!x).sort();
    const r = s.types.get(TypeUrl.RouteConfiguration) ?? { version: '', nonce: '', changedAt: 0, names: [], count: 0 };
    s.types.set(TypeUrl.RouteConfiguration, r);
    if (!sameNames(r.names, rds)) {
      r.names = rds;
      request(s, TypeUrl.RouteConfiguration, rds);
    }
  }
}

/** Delta xDS: subscribe/unsubscribe by difference, ACK with the nonce, track the system version. */
function deltaRequest(s: Sim, typeUrl: string, subscribe: string[], unsubscribe: string[], nonce = '', first = false): void {
  s.call.write({
    type_url: typeUrl, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe, response_nonce: nonce,
    ...(first ? { node: { id: s.id, cluster: s.id.split('~')[2].split('.')[0] } } : {}),
  });
}

const known = new WeakMap<TypeState, Set<string>>();

function onDelta(s: Sim, res: DeltaDiscoveryResponse__Output): void {
  const t = res.type_url;
  let st = s.types.get(t);
  if (!st) s.types.set(t, (st = { version: '', nonce: '', changedAt: 0, names: [], count: 0 }));
  let names = known.get(st);
  if (!names) known.set(st, (names = new Set()));
  for (const r of res.resources) {
    bytes += (r.resource?.value as Uint8Array | undefined)?.length ?? 0;
    names.add(r.name);
  }
  for (const n of res.removed_resources) names.delete(n);
  if (st.version !== res.system_version_info) st.changedAt = Date.now();
  st.version = res.system_version_info;
  st.nonce = res.nonce;
  st.count += 1;
  deltaRequest(s, t, [], [], res.nonce);
  const follow = (dep: string, want: string[]) => {
    const d = s.types.get(dep) ?? { version: '', nonce: '', changedAt: 0, names: [], count: 0 };
    s.types.set(dep, d);
    const have = new Set(d.names);
    const wantSet = new Set(want);
    const sub = want.filter((n) => !have.has(n));
    const unsub = d.names.filter((n) => !wantSet.has(n));
    if (sub.length || unsub.length || d.count === 0 && !d.names.length) {
      d.names = want;
      deltaRequest(s, dep, sub, unsub, '', false);
    }
  };
  if (t === TypeUrl.Cluster) follow(TypeUrl.ClusterLoadAssignment, [...names].filter((n) => n.startsWith('outbound|')).sort());
  else if (t === TypeUrl.Listener) follow(TypeUrl.RouteConfiguration, [...names].map((n) => /^0\.0\.0\.0_(\d+)$/.exec(n)?.[1]).filter((x): x is string => !!x).sort());
}

function start(server: string, ids: string[], delta: boolean): void {
  for (const id of ids) {
    const client = new grpc.Client(server, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1, 'grpc.keepalive_time_ms': 60_000,
    });
    const call = (delta
      ? client.makeBidiStreamRequest(ADS_PATHS.delta, adsCodec.encodeDeltaRequest, adsCodec.decodeDeltaResponse)
      : client.makeBidiStreamRequest(ADS_PATHS.sotw, adsCodec.encodeRequest, adsCodec.decodeResponse)) as Sim['call'];
    const s: Sim = { id, client, call, delta, types: new Map(), errors: 0 };
    call.on('data', (res: DiscoveryResponse__Output & DeltaDiscoveryResponse__Output) => (delta ? onDelta(s, res) : onResponse(s, res)));
    call.on('error', () => { s.errors += 1; });
    sims.push(s);
    if (delta) {
      deltaRequest(s, TypeUrl.Cluster, [], [], '', true);
      deltaRequest(s, TypeUrl.Listener, [], []);
    } else {
      request(s, TypeUrl.Cluster, [], true);
      request(s, TypeUrl.Listener, []);
    }
  }
}

const SHORT: Record<string, string> = { [TypeUrl.Cluster]: 'CDS', [TypeUrl.ClusterLoadAssignment]: 'EDS', [TypeUrl.Listener]: 'LDS', [TypeUrl.RouteConfiguration]: 'RDS' };

process.on('message', (m: { cmd: string; server?: string; ids?: string[]; delta?: boolean; type?: string; since?: number }) => {
  if (m.cmd === 'synced') {
    // Proxies that have a version of every type, and stream errors.
    const types = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];
    process.send!({ synced: sims.filter((s) => types.every((t) => s.types.get(t)?.version)).length, errors: sims.reduce((a, s) => a + s.errors, 0), bytes });
    return;
  }
  if (m.cmd === 'changes') {
    // Proxies whose version of one type changed at or after `since`: id, when, version.
    const t = Object.keys(SHORT).find((k) => SHORT[k] === m.type)!;
    process.send!({ changes: sims.filter((s) => (s.types.get(t)?.changedAt ?? 0) >= m.since!).map((s) => ({ id: s.id, at: s.types.get(t)!.changedAt, v: s.types.get(t)!.version })) });
    return;
  }
  if (m.cmd === 'start') {
    start(m.server!, m.ids!, !!m.delta);
    process.send!({ started: sims.length });
  } else if (m.cmd === 'status') {
    process.send!({
      bytes,
      proxies: sims.map((s) => ({
        id: s.id, errors: s.errors,
        types: Object.fromEntries([...s.types].filter(([t]) => SHORT[t]).map(([t, st]) => [SHORT[t], { v: st.version, at: st.changedAt, n: st.count }])),
      })),
    });
  } else if (m.cmd === 'exit') {
    for (const s of sims) {
      s.call.cancel();
      s.client.close();
    }
    process.exit(0);
  }
});
process.send!({ ready: true });
