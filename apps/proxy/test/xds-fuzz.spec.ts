/**
 * Fuzzing what the proxy takes from the control plane: real resources (the control plane's golden
 * outputs: clusters, endpoints, listeners, routes) mutated structurally and at the byte level,
 * then decoded and compiled as the xDS client and config layer do. Each case must either compile
 * or be refused with a ConfigError naming the field — never another exception (a crash, or a NACK
 * whose reason is a stack trace), never more than a second of work. Then, through a real ADS
 * server, mutated clusters are pushed next to a canary: a refused push is NACKed with a reason,
 * nothing of it is applied (no canary), and the last good config keeps serving.
 *
 * Fixed seed, bounded count here; `TSMESH_FUZZ_LONG=1` runs 200,000 cases (`TSMESH_FUZZ_SEED`
 * picks another seed). A failure prints the seed, the case number and the mutation: add it to
 * the regressions below.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, clusterLoadAssignment, decodeMessage, DECODE_OPTIONS, encodeTrusted, messageCodec, route, TypeUrl, type Cluster } from '@tsmesh/xds';
import { compileCluster, compileLoadAssignment } from '../src/config/cluster';
import { compileListener } from '../src/config/listener';
import { compileRouteTable } from '../src/config/route';
import { ConfigError } from '../src/config/errors';
import { SecretStore } from '../src/security/secrets';
import { withSecretStore } from '../src/security/transport';
import { registerSecurityFilters } from '../src/authz/register';
import type { Proxy } from '../src/agent/proxy';
import { ControlPlane, edsCluster, httpListener, request, routes, startProxy, until, upstream, type Upstream } from './harness';
import { Rng, mutateBytes, mutateMessage } from './fuzz/xds-mutate';

const LONG = process.env.TSMESH_FUZZ_LONG === '1';
const SEED = Number(process.env.TSMESH_FUZZ_SEED ?? 20261201);
const CASES = LONG ? 200_000 : 4000;
const PUSHES = LONG ? 300 : 20;

const dir = resolve(import.meta.dirname, '../../control-plane/testdata/golden');
type Kind = 'CDS' | 'EDS' | 'LDS' | 'RDS';
const KINDS: Record<Kind, [string, (m: never) => unknown]> = {
  CDS: [TypeUrl.Cluster, (m) => compileCluster(m, 'fuzz')],
  EDS: [TypeUrl.ClusterLoadAssignment, (m) => compileLoadAssignment(m, 'fuzz')],
  LDS: [TypeUrl.Listener, (m) => compileListener(m, 'fuzz')],
  RDS: [TypeUrl.RouteConfiguration, (m) => compileRouteTable(m, 'fuzz')],
};

interface Seed { kind: Kind; url: string; msg: Record<string, unknown> }

function corpus(): Seed[] {
  const out: Seed[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const d = JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as Record<string, Record<string, unknown>[]>;
    for (const [k, [url]] of Object.entries(KINDS) as [Kind, [string, unknown]][]) {
      for (const r of d[k] ?? []) {
        const { '@type': _t, ...rest } = r;
        const codec = messageCodec(url);
        out.push({ kind: k, url, msg: codec.toObject(codec.fromObject(rest), DECODE_OPTIONS) as Record<string, unknown> });
      }
    }
  }
  return out;
}

/** One case: mutate, encode/decode as the wire would, compile. Returns what happened, or throws a description of a failure. */
function runCase(seeds: Seed[], rng: Rng, store: SecretStore, i: number): 'compiled' | 'refused' | 'undecodable' | 'unsendable' {
  const s = rng.pick(seeds);
  let msg: unknown;
  let what: string;
  if (rng.chance(0.5)) {
    const m = mutateMessage(s.msg, rng);
    what = `message: ${m.what}`;
    let bytes: Uint8Array;
    try {
      bytes = encodeTrusted(s.url, m.value);
    } catch {
      return 'unsendable'; // not representable on the wire: a control plane cannot send it
    }
    msg = decodeMessage(s.url, bytes);
  } else {
    const m = mutateBytes(encodeTrusted(s.url, s.msg), rng);
    what = `bytes: ${m.what}`;
    try {
      msg = decodeMessage(s.url, m.value);
    } catch {
      return 'undecodable'; // the xDS client NACKs a resource it cannot decode
    }
  }
  const t0 = performance.now();
  let outcome: 'compiled' | 'refused';
  try {
    withSecretStore(store, () => KINDS[s.kind][1](msg as never));
    outcome = 'compiled';
  } catch (err) {
    if (!(err instanceof ConfigError && err.field !== undefined && err.reason)) throw new Error(`seed ${SEED} case ${i} (${s.kind}, ${what}): ${(err as Error).name}: ${(err as Error).message}`);
    outcome = 'refused';
  }
  const ms = performance.now() - t0;
  if (ms > 1000) throw new Error(`seed ${SEED} case ${i} (${s.kind}, ${what}): took ${Math.round(ms)} ms`);
  return outcome;
}

describe.skipIf(!existsSync(dir))('xDS decoding and config compilation under mutation', () => {
  it(`${CASES} mutated real resources compile or are refused with a field and reason`, () => {
    registerSecurityFilters();
    const seeds = corpus();
    expect(seeds.length).toBeGreaterThan(50);
    const store = new SecretStore();
    const rng = new Rng(SEED);
    const tally: Record<string, number> = { compiled: 0, refused: 0, undecodable: 0, unsendable: 0 };
    for (let i = 0; i < CASES; i++) tally[runCase(seeds, rng, store, i)]++;
    // the mutations reach the compilers and both outcomes happen (the fuzzer is not vacuous)
    expect(tally.compiled).toBeGreaterThan(CASES / 20);
    expect(tally.refused).toBeGreaterThan(CASES / 20);
  }, LONG ? 3_600_000 : 60_000);

  it('regression: an endpoint priority of 4294967295 is refused quickly, not allocated', () => {
    const cla = decodeMessage(TypeUrl.ClusterLoadAssignment, encodeTrusted(TypeUrl.ClusterLoadAssignment, { cluster_name: 'c', endpoints: [{ priority: 4294967295, lb_endpoints: [] }] }));
    const t0 = performance.now();
    expect(() => compileLoadAssignment(cla as never, 'v')).toThrow(/endpoints\[0\]\.priority: 4294967295 is out of range/);
    expect(performance.now() - t0).toBeLessThan(100);
  });
});

describe.skipIf(!existsSync(dir))('mutated clusters pushed over ADS', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let app: Upstream;
  let port = 0;
  const base = () => {
    const { c, e } = edsCluster('app', [app.port]);
    return { c, e };
  };

  beforeAll(async () => {
    app = await upstream('app');
    cp = new ControlPlane();
    await cp.start();
    proxy = await startProxy(cp);
    const { c, e } = base();
    const v = cp.push({ listeners: [httpListener('base', 'r')], routes: [routes('r', [route({ cluster: 'app' })])], clusters: [c], endpoints: [e] });
    await until(() => proxy.xds.dump().get(TypeUrl.Listener)?.version === v, 5000, 'baseline');
    port = proxy.listeners.boundPort('base')!;
    expect((await request(port, '/')).status).toBe(200);
  }, 30_000);

  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await app?.close();
  });

  it(`${PUSHES} pushes: each is ACKed whole or NACKed with a reason, nothing of a NACKed push applied, the last good config serving`, async () => {
    const seeds = corpus().filter((s) => s.kind === 'CDS');
    const rng = new Rng(SEED ^ 0x5eed);
    let nacked = 0;
    let acked = 0;
    for (let i = 0; i < PUSHES; i++) {
      const s = rng.pick(seeds);
      const m = mutateMessage(s.msg, rng);
      const mutated = { ...m.value, name: `fuzz-${i}` } as Record<string, unknown>;
      // an EDS cluster needs its endpoints in the snapshot (the snapshot checks consistency)
      mutated.eds_cluster_config = mutated.type === 'EDS' || mutated.cluster_discovery_type === 'type' ? { eds_config: { ads: {} }, service_name: `fuzz-${i}` } : mutated.eds_cluster_config;
      try {
        encodeTrusted(TypeUrl.Cluster, mutated);
      } catch {
        continue;
      }
      const canary = cluster({ name: `canary-${i}`, type: 'STATIC', staticEndpoints: [{ address: '127.0.0.1', port: app.port }] });
      const { c, e } = base();
      const before = proxy.xds.dump().get(TypeUrl.Cluster)!.version;
      let v: string;
      try {
        v = cp.push({ listeners: [httpListener('base', 'r')], routes: [routes('r', [route({ cluster: 'app' })])], clusters: [c, canary, mutated as Cluster], endpoints: [e, clusterLoadAssignment(`fuzz-${i}`, [])] });
      } catch {
        continue; // the control plane side refused to build the snapshot
      }
      await until(() => cp.acks.some((a) => a.typeUrl === TypeUrl.Cluster && a.version === v) || cp.nacks.some((n) => n.typeUrl === TypeUrl.Cluster && n.version === v), 5000, `answer to ${v} (${m.what})`);
      const nack = cp.nacks.find((n) => n.typeUrl === TypeUrl.Cluster && n.version === v);
      if (nack) {
        nacked++;
        expect(nack.message, m.what).toMatch(new RegExp(`fuzz-${i}`));
        expect(proxy.ctx.clusters.get(`canary-${i}`), `half-applied: ${m.what}`).toBeUndefined();
        expect(proxy.xds.dump().get(TypeUrl.Cluster)!.version).toBe(before);
      } else {
        acked++;
        expect(proxy.ctx.clusters.get(`canary-${i}`)).toBeDefined();
      }
      expect((await request(port, '/')).status, `serving after ${m.what}`).toBe(200);
    }
    expect(nacked + acked).toBeGreaterThan(PUSHES / 3);
  }, LONG ? 3_600_000 : 60_000);
});


