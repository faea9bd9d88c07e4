// The sample HTTP filter (envoy.filters.http.header_mutation) end to end through a real proxy, and
// the proxy's filter registry against what the control plane and `tsmesh analyze` expect it to run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtensionTypeUrl, pack, PROXY_HTTP_FILTER_TYPES, PROXY_NETWORK_FILTER_TYPES, type HttpFilter } from '@tsmesh/xds';
import { registeredHttpFilterTypes, registeredNetworkFilterTypes } from '../src/config/filter-registry';
import type { Proxy } from '../src/agent/proxy';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, type Upstream } from './harness';

const mutation = (m: object): HttpFilter => ({ name: 'sample.header_mutation', typed_config: pack(ExtensionTypeUrl.HeaderMutation, { mutations: m }) });

describe('header_mutation (the sample HTTP filter)', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    const c = edsCluster('a', [a.port]);
    const v = cp.push({
      listeners: [httpListener('http', '80', [mutation({
        request_mutations: [{ append: { header: { key: 'x-added', value: 'from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } } }, { remove: 'x-secret' }],
        response_mutations: [{ append: { header: { key: 'x-served-by', value: 'tsmesh' } } }, { remove: 'x-upstream' }],
      })])],
      routes: [routes('80', [route({ cluster: 'a' })])],
      clusters: [c.c],
      endpoints: [c.e],
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await a?.close();
  });

  it('mutates the request the upstream sees and the response the client sees', async () => {
    const r = await request(proxy.listeners.boundPort('http')!, '/x', { headers: { 'x-secret': 's3cret' } });
    expect(r.status).toBe(200);
    expect(a.lastHeaders['x-added']).toBe('from 127.0.0.1');
    expect(a.lastHeaders['x-secret']).toBeUndefined();
    expect(r.headers['x-served-by']).toBe('tsmesh');
    expect(r.headers['x-upstream']).toBeUndefined();
  });

  it('NACKs a mutation it does not implement, naming the field, and keeps serving', async () => {
    const c = edsCluster('a', [a.port]);
    const before = cp.nacks.length;
    cp.push({
      listeners: [httpListener('http', '80', [mutation({ request_mutations: [{ remove: ':path' }] })])],
      routes: [routes('80', [route({ cluster: 'a' })])],
      clusters: [c.c],
      endpoints: [c.e],
    });
    await until(() => cp.nacks.length > before, 5000, 'a NACK');
    expect(cp.nacks.at(-1)!.message).toMatch(/http_filters\[0\]\.typed_config\.mutations\.request_mutations\[0\]\.remove: ":path" cannot be removed/);
    const r = await request(proxy.listeners.boundPort('http')!, '/x');
    expect(r.headers['x-served-by']).toBe('tsmesh');
  });
});

describe('the proxy runs what the control plane and analyze expect it to', () => {
  // router and fault are built into the connection manager; the rest come from the registry.
  const BUILT_IN_HTTP = [ExtensionTypeUrl.Router, ExtensionTypeUrl.HttpFault];
  const BUILT_IN_NETWORK = [ExtensionTypeUrl.HttpConnectionManager, ExtensionTypeUrl.TcpProxy];

  it('HTTP filters: PROXY_HTTP_FILTER_TYPES is exactly the built-in ones plus the registry', async () => {
    await import('../src/agent/proxy');
    expect([...BUILT_IN_HTTP, ...registeredHttpFilterTypes()].sort()).toEqual([...PROXY_HTTP_FILTER_TYPES].sort());
  });

  it('network filters: PROXY_NETWORK_FILTER_TYPES is exactly the built-in ones plus the registry', async () => {
    await import('../src/agent/proxy');
    expect([...BUILT_IN_NETWORK, ...registeredNetworkFilterTypes()].sort()).toEqual([...PROXY_NETWORK_FILTER_TYPES].sort());
  });
});
