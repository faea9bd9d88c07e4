/**
 * VHDS: a route table whose RouteConfiguration carries `vhds` takes its virtual hosts from
 * `VirtualHost` resources over a Delta xDS stream. (1) Differential: for the control plane's
 * golden configs (VirtualServices, DestinationRules, delegation, Gateway API mesh routes, headless
 * services, ServiceEntries), the route tables the proxy compiles from a VHDS client's files route
 * every host exactly as the ones it compiles from the full-RDS files. (2) The delta exchange over
 * real gRPC with an in-process proxy: changes, removals, a NACKed virtual host with the last good
 * one serving, and a reconnect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdsServer, DECODE_OPTIONS, encodeResource, messageType, routeConfiguration, Snapshot, snapshotFromEncoded, TypeUrl, vhdsResourceName, virtualHost,
  type RouteConfiguration, type RouteConfiguration__Output, type VirtualHost, type VirtualHost__Output,
} from '@tsmesh/xds';
import { compileRouteTable, compileVhdsRouteTable, compileVirtualHost, type RouteTable } from '../src/config/route';
import { ControlPlane, NODE_ID, startProxy, upstream, httpListener, edsCluster, route, until, request, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';
import { configDump } from '../src/admin/config-dump';

const dir = resolve(import.meta.dirname, '../../control-plane/testdata/golden');
const CASES = existsSync(dir) ? ['todolist-canary', 'callme-split-fault', 'delegate-virtualservice', 'gateway-api-mesh', 'headless-statefulset', 'egress-https-serviceentry'] : [];

type Json = Record<string, unknown>;
const decode = <T>(typeName: string, r: Json): T => {
  const { '@type': _t, ...rest } = r;
  const t = messageType(typeName);
  return t.toObject(t.fromObject(rest), DECODE_OPTIONS) as T;
};

/** Everything a compiled virtual host does, as comparable text. */
const effect = (v: unknown) => JSON.stringify(v, (_k, x) => (x instanceof Map ? [...x.entries()] : x instanceof RegExp ? String(x) : Buffer.isBuffer(x) ? x.toString('base64') : x));

/** The hosts to probe: every domain of the table (wildcards filled in), with and without a port, and unknown ones. */
function probes(rc: RouteConfiguration__Output): string[] {
  const hosts = new Set(['unknown.example', 'unknown.example:8080', '10.0.0.99:80']);
  for (const vh of rc.virtual_hosts) for (const d of vh.domains) {
    const h = d.replace(/^\*/, 'x').replace(/\*$/, 'x');
    hosts.add(h);
    hosts.add(h.includes(':') ? h.slice(0, h.lastIndexOf(':')) : `${h}:9999`);
  }
  return [...hosts];
}

describe('VHDS differential against full RDS (control-plane golden configs)', () => {
  for (const c of CASES) {
    it(`${c}: every host picks a virtual host that routes the same`, () => {
      const full = JSON.parse(readFileSync(resolve(dir, `${c}.caller.json`), 'utf8')) as Record<string, Json[]>;
      const split = JSON.parse(readFileSync(resolve(dir, `${c}.caller-vhds.json`), 'utf8')) as Record<string, Json[]>;
      const vhosts = split.VHDS.map((v) => decode<VirtualHost__Output>('envoy.config.route.v3.VirtualHost', v));
      expect(vhosts.length).toBeGreaterThan(0);
      let probed = 0;
      for (const f of full.RDS) {
        const rc = decode<RouteConfiguration__Output>('envoy.config.route.v3.RouteConfiguration', f);
        const header = decode<RouteConfiguration__Output>('envoy.config.route.v3.RouteConfiguration', split.RDS.find((r) => r.name === rc.name)!);
        expect(header.vhds).toBeTruthy();
        expect(header.virtual_hosts).toEqual([]);
        // The golden dump holds virtual hosts without their resource names: name them as the control plane does.
        const mine = new Map(vhosts.filter((v) => rc.virtual_hosts.some((x) => x.name === v.name && JSON.stringify(x.domains) === JSON.stringify(v.domains))).map((v) => [vhdsResourceName(rc.name, v.name), compileVirtualHost(v, '')]));
        const a: RouteTable = compileRouteTable(rc, 'full');
        const b: RouteTable = compileVhdsRouteTable(header, mine, 'vhds');
        expect(b.virtualHosts.length).toBe(a.virtualHosts.length);
        for (const host of probes(rc)) {
          expect(effect(b.selectVirtualHost(host)), `${rc.name} ${host}`).toBe(effect(a.selectVirtualHost(host)));
          probed++;
        }
      }
      expect(probed).toBeGreaterThan(10);
    });
  }

  it('the comparison sees a difference: one virtual host routed elsewhere changes the effect', () => {
    const rc = decode<RouteConfiguration__Output>('envoy.config.route.v3.RouteConfiguration', routeConfiguration('80', [virtualHost('a:80', ['a'], [route({ cluster: 'c1' })])]) as unknown as Json);
    const other = decode<VirtualHost__Output>('envoy.config.route.v3.VirtualHost', virtualHost('a:80', ['a'], [route({ cluster: 'c2' })]) as unknown as Json);
    const b = compileVhdsRouteTable({ ...rc, virtual_hosts: [] }, new Map([['80/a:80', compileVirtualHost(other, '')]]), 'v');
    expect(effect(b.selectVirtualHost('a'))).not.toBe(effect(compileRouteTable(rc, 'v').selectVirtualHost('a')));
  });
});

describe('VHDS over Delta xDS (real gRPC, in-process proxy)', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;
  let b: Upstream;
  let port = 0;
  let n = 0;
  const ca = () => edsCluster('outbound|80||a.default.svc.cluster.local', [a.port]);
  const cb = () => edsCluster('outbound|80||b.default.svc.cluster.local', [b.port]);
  const header: RouteConfiguration = { name: '80', validate_clusters: { value: false }, vhds: { config_source: { ads: {}, resource_api_version: 'V3' } } };

  /** Sets a snapshot with the route table `80` as a vhds header and `hosts` as its VHDS virtual hosts. */
  function push(hosts: VirtualHost[]): string {
    const v = `v${++n}`;
    const base = Snapshot.create(v, {
      [TypeUrl.Listener]: [httpListener('http', '80')],
      [TypeUrl.RouteConfiguration]: [header],
      [TypeUrl.Cluster]: [ca().c, cb().c],
      [TypeUrl.ClusterLoadAssignment]: [ca().e, cb().e],
    });
    const byType: Record<string, unknown[]> = {};
    for (const t of [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment]) byType[t] = [...base.resources(t).values()];
    byType[TypeUrl.VirtualHost] = hosts.map((h) => encodeResource(TypeUrl.VirtualHost, h, vhdsResourceName('80', h.name!)));
    cp.cache.setSnapshot(NODE_ID, snapshotFromEncoded(v, byType as never));
    return v;
  }

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    b = await upstream('b');
    push([virtualHost('a.svc:80', ['a.svc'], [route({ cluster: ca().c.name! })]), virtualHost('b.svc:80', ['b.svc'], [route({ cluster: ca().c.name! })])]);
    proxy = await startProxy(cp);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await a?.close();
    await b?.close();
  });

  const vhdsAcked = (v: string) => until(() => cp.acks.some((x) => x.typeUrl === TypeUrl.VirtualHost && x.version === v), 5000, `VHDS ACK ${v}`);

  it('routes by the virtual hosts VHDS brought; a change moves only that host; a removal takes it away', async () => {
    expect((await request(port, '/', { headers: { host: 'a.svc' } })).body).toMatch(/^a /);
    expect((await request(port, '/', { headers: { host: 'b.svc' } })).body).toMatch(/^a /);
    const v = push([virtualHost('a.svc:80', ['a.svc'], [route({ cluster: ca().c.name! })]), virtualHost('b.svc:80', ['b.svc'], [route({ cluster: cb().c.name! })])]);
    await vhdsAcked(v);
    expect((await request(port, '/', { headers: { host: 'b.svc' } })).body).toMatch(/^b /);
    expect((await request(port, '/', { headers: { host: 'a.svc' } })).body).toMatch(/^a /);
    const kept = proxy.xds.dump().get(TypeUrl.VirtualHost)!;
    expect([...kept.kept!.keys()].sort()).toEqual(['80/a.svc:80', '80/b.svc:80']);
    // /config_dump shows the table in force: its header with the virtual hosts VHDS brought it.
    const routes = configDump({ bootstrap: {}, startedAt: new Date(), types: proxy.xds.dump(), secrets: null }).configs.find((c) => String(c['@type']).endsWith('RoutesConfigDump'))!;
    const rc = (routes.dynamic_route_configs as { route_config: { name: string; vhds?: unknown; virtual_hosts: { name: string; routes: { route: { cluster: string } }[] }[] } }[])[0].route_config;
    expect(rc.vhds).toBeTruthy();
    expect(rc.virtual_hosts.map((h) => [h.name, h.routes[0].route.cluster])).toEqual([['a.svc:80', ca().c.name], ['b.svc:80', cb().c.name]]);
    const v2 = push([virtualHost('b.svc:80', ['b.svc'], [route({ cluster: cb().c.name! })])]);
    await vhdsAcked(v2);
    expect((await request(port, '/', { headers: { host: 'a.svc' } })).status).toBe(404);
    expect([...proxy.xds.dump().get(TypeUrl.VirtualHost)!.kept!.keys()]).toEqual(['80/b.svc:80']);
  });

  it('NACKs a virtual host it cannot apply, naming it, and keeps routing with the last good one', async () => {
    const bad: VirtualHost = { ...virtualHost('b.svc:80', ['b.svc'], [route({ cluster: ca().c.name! })]), rate_limits: [{ actions: [{ remote_address: {} }] }] };
    const v = push([virtualHost('c.svc:80', ['c.svc'], [route({ cluster: ca().c.name! })]), bad]);
    await until(() => cp.nacks.some((x) => x.typeUrl === TypeUrl.VirtualHost && x.version === v), 5000, 'VHDS NACK');
    // The refused version is not sent again (no NACK loop) until the snapshot moves on.
    await new Promise((r) => setTimeout(r, 300));
    expect(cp.nacks.filter((x) => x.typeUrl === TypeUrl.VirtualHost && x.version === v)).toHaveLength(1);
    const nack = cp.nacks.find((x) => x.typeUrl === TypeUrl.VirtualHost && x.version === v)!;
    expect(nack.message).toContain('80/b.svc:80');
    expect(nack.message).toContain('rate_limits');
    // Nothing of the refused response applied: b still goes to b, c is unknown.
    expect((await request(port, '/', { headers: { host: 'b.svc' } })).body).toMatch(/^b /);
    expect((await request(port, '/', { headers: { host: 'c.svc' } })).status).toBe(404);
    const good = push([virtualHost('c.svc:80', ['c.svc'], [route({ cluster: ca().c.name! })]), virtualHost('b.svc:80', ['b.svc'], [route({ cluster: cb().c.name! })])]);
    await vhdsAcked(good);
    expect((await request(port, '/', { headers: { host: 'c.svc' } })).body).toMatch(/^a /);
  });

  it('keeps its virtual hosts over a control-plane restart and resumes holding them (nothing re-sent)', async () => {
    await cp.server.close();
    const sent: string[] = [];
    const s = new AdsServer({ cache: cp.cache, hooks: { onSent: (_n, r) => void sent.push(r.typeUrl) } });
    await s.listen(`127.0.0.1:${cp.port}`);
    try {
      await until(() => s.status.get(NODE_ID)?.types.get(TypeUrl.VirtualHost)?.ackedVersion === `v${n}`, 10_000, 'VHDS resumed');
      expect(sent).not.toContain(TypeUrl.VirtualHost);
      expect((await request(port, '/', { headers: { host: 'b.svc' } })).body).toMatch(/^b /);
    } finally {
      await s.close();
    }
  });
});
