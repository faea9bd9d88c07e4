/**
 * `tsmesh proxy-config` tables over a config dump recorded from the control plane's
 * `/debug/config_dump` for a caller-service sidecar (apps/control-plane testdata golden
 * base.yaml + callme-split-fault.yaml), in istioctl's columns.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { selectKind, type ConfigDump } from '../src/commands/proxy-status';
import { renderProxyConfig } from '../src/commands/proxy-config';

const dump = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/config-dump.caller-service.json'), 'utf8')) as ConfigDump;
const rows = (text: string) => text.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));

describe('proxy-config tables (recorded control-plane config dump)', () => {
  it('cluster: SERVICE FQDN, PORT, SUBSET, DIRECTION, TYPE, DESTINATION RULE', () => {
    const t = rows(renderProxyConfig('cluster', selectKind(dump, 'cluster'), 'short'));
    expect(t[0]).toEqual(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE']);
    expect(t).toContainEqual(['callme-service.default.svc.cluster.local', '8091', 'v1', 'outbound', 'EDS']);
    expect(t).toContainEqual(['callme-service.default.svc.cluster.local', '8091', '-', 'outbound', 'EDS']);
    expect(t).toContainEqual(['BlackHoleCluster', '-', '-', '-', 'STATIC']);
  });

  it('listener: one row per filter chain with its match and destination', () => {
    const t = rows(renderProxyConfig('listener', selectKind(dump, 'listener'), 'short'));
    expect(t[0]).toEqual(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION']);
    expect(t).toContainEqual(['0.0.0.0', '15006', 'Trans: tls; App: istio-peer-exchange,istio; Addr: *:8090', 'Inline Route: inbound|8090||']);
    expect(t).toContainEqual(['0.0.0.0', '15006', 'ALL', 'Cluster: InboundPassthroughClusterIpv4']);
    expect(t.some((r) => r[1] === '8091' && r[3] === 'Route: 8091')).toBe(true);
  });

  it('route and endpoint tables', () => {
    const r = rows(renderProxyConfig('route', selectKind(dump, 'route'), 'short'));
    expect(r[0]).toEqual(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE']);
    const callme = r.find((x) => x[0] === '8091' && x[1] === 'callme-service.default.svc.cluster.local:8091');
    expect(callme?.[2]).toMatch(/^callme-service \+9 more\.\.\.$/);
    expect(callme?.[3]).toBe('/*');
    const e = rows(renderProxyConfig('endpoint', selectKind(dump, 'endpoint'), 'short'));
    expect(e[0]).toEqual(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER']);
    expect(e).toContainEqual(['10.244.0.2:8443', 'HEALTHY', 'OK', 'outbound|443||istio-ingressgateway.istio-system.svc.cluster.local']);
  });

  it('-o json and -o yaml give the resources; an unknown format is refused', () => {
    const clusters = selectKind(dump, 'cluster') as { name: string }[];
    expect(JSON.parse(renderProxyConfig('cluster', clusters, 'json'))).toEqual(clusters);
    expect(parse(renderProxyConfig('cluster', clusters, 'yaml'))).toEqual(clusters);
    expect(() => renderProxyConfig('cluster', clusters, 'wide')).toThrow(/unknown output "wide"/);
  });
});
