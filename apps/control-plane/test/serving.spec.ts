/**
 * Serving, end to end on loopback: a file store over a temp dir, the ADS server, a real ADS
 * client (libs/xds AdsClient over gRPC), and the monitoring endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { AdsClient, formatNodeId, TypeUrl, type XdsUpdate } from '@tsmesh/xds';
import { golden, startControlPlane, waitFor, type Running } from './helpers';

const NODE = formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' });
const DEBOUNCE_MS = 100;

type Weighted = { weighted_clusters?: { clusters: { name: string; weight: { value: number } }[] } };

function callmeWeights(u: XdsUpdate | undefined): Record<string, number> {
  const rc = u?.resources.find((r) => r.name === '8091')?.message as { virtual_hosts: { name: string; routes: { route?: Weighted }[] }[] } | undefined;
  const vh = rc?.virtual_hosts.find((v) => v.name === 'callme-service.default.svc.cluster.local:8091');
  const wc = vh?.routes[0]?.route?.weighted_clusters?.clusters ?? [];
  return Object.fromEntries(wc.map((c) => [c.name.split('|')[2], c.weight.value]));
}

describe('control plane serving over ADS', () => {
  let cp: Running;
  let client: AdsClient;
  let lastRds: XdsUpdate | undefined;
  let rdsAt = 0;
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${cp.monitoringPort}${path}`);
    return { status: r.status, text: await r.text() };
  };

  beforeAll(async () => {
    cp = await startControlPlane(['base.yaml', 'callme-split-fault.yaml'], { debounceMs: DEBOUNCE_MS });
    client = new AdsClient({ server: `127.0.0.1:${cp.xdsPort}`, node: { id: NODE, cluster: 'caller-service' }, backoff: { initialMs: 50, maxMs: 500 } });
    client.watch(TypeUrl.Listener, '*', () => {});
    client.watch(TypeUrl.RouteConfiguration, ['8091'], (u) => {
      lastRds = u;
      rdsAt = Date.now();
    });
    client.start();
    await waitFor(() => lastRds !== undefined, 5000, 'first RDS update');
  });
  afterAll(async () => {
    client?.close();
    await cp?.close();
  });

  it('serves the translated config and reports the proxy SYNCED', async () => {
    expect(callmeWeights(lastRds)).toEqual({ v1: 20, v2: 80 });
    await waitFor(async () => {
      const s = JSON.parse((await get('/debug/syncz')).text) as { proxy: string; types: Record<string, { state: string }> }[];
      return s.some((p) => p.proxy === NODE && p.types.RDS?.state === 'SYNCED' && p.types.LDS?.state === 'SYNCED');
    }, 3000, 'proxy status SYNCED');
    const dump = JSON.parse((await get(`/debug/config_dump?proxyID=${encodeURIComponent(NODE)}`)).text) as { resources: Record<string, { name?: string }[]> };
    expect(dump.resources.Listener.map((l) => l.name)).toContain('virtualInbound');
    expect(dump.resources.Cluster.map((c) => c.name)).toContain('outbound|8091|v1|callme-service.default.svc.cluster.local');
    expect((await get('/debug/config_dump?proxyID=nobody')).status).toBe(404);
    // the accepted config, as `tsmesh x describe` reads it
    const configz = JSON.parse((await get('/debug/configz')).text) as { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown; data?: unknown }[];
    expect(configz.some((o) => o.kind === 'VirtualService' && o.metadata.name === 'callme-service-route')).toBe(true);
    expect(configz.some((o) => o.kind === 'Service' && o.metadata.name === 'callme-service')).toBe(true);
    for (const o of configz.filter((x) => x.kind === 'Secret')) expect(o.data).toBeUndefined();
  });

  it('a file change reaches the connected client within one debounce window', async () => {
    const before = lastRds!.version;
    const text = readFileSync(golden('callme-split-fault.yaml'), 'utf8').replace('weight: 20', 'weight: 50').replace('weight: 80', 'weight: 50');
    const t0 = Date.now();
    cp.write('callme-split-fault.yaml', text);
    await waitFor(() => lastRds!.version !== before, 3000, 'RDS update after the file change');
    const elapsed = rdsAt - t0;
    expect(callmeWeights(lastRds)).toEqual({ v1: 50, v2: 50 });
    // One quiet window (100 ms) plus file settle and generation; far below the 10 s max window.
    expect(elapsed).toBeLessThan(DEBOUNCE_MS * 4);
    const metrics = (await get('/metrics')).text;
    expect(metrics).toMatch(/pilot_xds_pushes\{type="rds"\} [1-9]/);
    await waitFor(async () => /pilot_proxy_convergence_time_count [1-9]/.test((await get('/metrics')).text), 2000, 'convergence observed');
    // Istio's Control Plane dashboard series: config events by kind and event, the VirtualService count,
    // the pushed config size per type, and process metrics.
    const after = (await get('/metrics')).text;
    expect(after).toMatch(/pilot_k8s_cfg_events\{type="VirtualService",event="update"\} [1-9]/);
    expect(after).toMatch(/^pilot_virt_services 1$/m);
    expect(after).toMatch(/pilot_xds_config_size_bytes_bucket\{type="rds",le="10000"\} [1-9]/);
    expect(after).toMatch(/^process_resident_memory_bytes [1-9]\d*$/m);
    expect(after).toMatch(/^process_cpu_seconds_total \d/m);
  });

  it('reports an invalid file by file, line, resource, field and reason, ignores it, and keeps serving the rest', async () => {
    const version = lastRds!.version;
    cp.write('broken.yaml', [
      'apiVersion: networking.istio.io/v1', 'kind: VirtualService', 'metadata: {name: bad-split, namespace: default}', 'spec:',
      '  hosts: [todolist]', '  http:', '    - route:', '        - destination: {host: todolist}', '          weight: 0',
      '        - destination: {host: todolist}', '          weight: 0', '---', 'kind: [oops',
    ].join('\n'));
    await waitFor(async () => (await get('/debug/config_issues?format=text')).text.includes('broken.yaml'), 3000, 'issues reported');
    const issues = (await get('/debug/config_issues?format=text')).text;
    expect(issues).toContain(`${cp.dir}/broken.yaml:7: VirtualService default/bad-split: spec.http[0].route: total destination weight is 0: at least one destination needs a weight`);
    expect(issues).toMatch(/broken\.yaml:1[3-4]: document: /);
    expect((await get('/metrics')).text).toMatch(/pilot_rejected_configs 2/);
    // The rejected VirtualService changed nothing the proxy sees.
    await new Promise((r) => setTimeout(r, DEBOUNCE_MS * 3));
    expect(lastRds!.version).toBe(version);
    expect(callmeWeights(lastRds)).toEqual({ v1: 50, v2: 50 });

    // Fixing the file clears the issues.
    cp.write('broken.yaml', '# nothing here\n');
    await waitFor(async () => (await get('/debug/config_issues')).text === '[]', 3000, 'issues cleared');
  });

  it('drops the proxy from status when its stream closes', async () => {
    client.close();
    await waitFor(async () => (await get('/debug/syncz')).text === '[]', 3000, 'proxy gone');
    expect((await get('/metrics')).text).toMatch(/pilot_xds 0/);
  });
});
