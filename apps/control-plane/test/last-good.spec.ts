/**
 * Nothing is lost: a rejected update of an existing resource keeps its last good version serving.
 * File store: a gateway (real ADS client) keeps its todolist routes when the VirtualService is
 * rewritten with weights 0/0 (Istio refuses only all-zero weights), with an unknown field, or with a YAML syntax error; the issue says
 * "kept version from <time>" and names both versions. A rejected DENY policy with no earlier
 * version is enforced fail-closed, and counted by handling in the metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { AdsClient, formatNodeId, TypeUrl, unpack, type XdsUpdate } from '@tsmesh/xds';
import { golden, startControlPlane, waitFor, type Running } from './helpers';

const GATEWAY = formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' });

type Route = { route?: { weighted_clusters?: { clusters: { name: string; weight: { value: number } }[] } } };
function gatewayWeights(u: XdsUpdate | undefined): Record<string, number> {
  const rc = u?.resources.find((r) => r.name === 'http.8080')?.message as { virtual_hosts: { routes: Route[] }[] } | undefined;
  const wc = rc?.virtual_hosts[0]?.routes[0]?.route?.weighted_clusters?.clusters ?? [];
  return Object.fromEntries(wc.map((c) => [c.name.split('|')[2], c.weight.value]));
}

describe('rejected updates keep the last good version (file store)', () => {
  let cp: Running;
  let client: AdsClient;
  let rds: XdsUpdate | undefined;
  let lds: XdsUpdate | undefined;
  const canary = readFileSync(golden('todolist-canary.yaml'), 'utf8');
  const issuesText = async () => (await fetch(`http://127.0.0.1:${cp.monitoringPort}/debug/config_issues?format=text`)).text();
  const issuesJson = async () => (await (await fetch(`http://127.0.0.1:${cp.monitoringPort}/debug/config_issues`)).json()) as { reason: string; kept?: { version: string; acceptedAt: string }; rejectedVersion?: string }[];

  beforeAll(async () => {
    cp = await startControlPlane(['base.yaml', 'todolist-canary.yaml'], { debounceMs: 50 });
    client = new AdsClient({ server: `127.0.0.1:${cp.xdsPort}`, node: { id: GATEWAY, cluster: 'istio-ingressgateway' }, backoff: { initialMs: 50, maxMs: 500 } });
    client.watch(TypeUrl.Listener, '*', (u) => { lds = u; });
    client.watch(TypeUrl.RouteConfiguration, ['http.8080'], (u) => { rds = u; });
    client.start();
    await waitFor(() => gatewayWeights(rds).v1 === 90, 5000, 'gateway routes');
  });
  afterAll(async () => {
    client?.close();
    await cp?.close();
  });

  it('weights 0/0: rejected, the 90/10 version keeps serving, the error says which version is kept', async () => {
    cp.write('todolist-canary.yaml', canary.replace('weight: 90', 'weight: 0').replace('weight: 10', 'weight: 0'));
    await waitFor(async () => (await issuesText()).includes('total destination weight is 0'), 3000, 'issue reported');
    const text = await issuesText();
    expect(text).toMatch(/VirtualService default\/todolist: spec\.http\[0\]\.route: total destination weight is 0: at least one destination needs a weight; kept version from \d{4}-\d\d-\d\dT[\d:.]+Z \(.*todolist-canary\.yaml:\d+ \(sha256 [0-9a-f]{10}\)\), rejected .*todolist-canary\.yaml:\d+ \(sha256 [0-9a-f]{10}\)/);
    const [issue] = await issuesJson();
    expect(issue.kept?.version).not.toBe(issue.rejectedVersion);
    await new Promise((r) => setTimeout(r, 200));
    expect(gatewayWeights(rds)).toEqual({ v1: 90, v2: 10 });
    const metrics = await (await fetch(`http://127.0.0.1:${cp.monitoringPort}/metrics`)).text();
    expect(metrics).toMatch(/tsmesh_rejected_resources\{kind="VirtualService",handling="kept_last_good"\} 1/);
  });

  it('an unknown field: rejected, still the last good version', async () => {
    cp.write('todolist-canary.yaml', canary.replace('weight: 10', 'weight: 10\n          weigth: 5'));
    await waitFor(async () => (await issuesText()).includes('unknown field "weigth"'), 3000, 'issue reported');
    expect(await issuesText()).toMatch(/unknown field "weigth".*; kept version from /);
    expect(gatewayWeights(rds)).toEqual({ v1: 90, v2: 10 });
  });

  it('a YAML syntax error in the file: its resources are kept', async () => {
    cp.write('todolist-canary.yaml', `${canary}\n  bad: [unclosed\n`);
    await waitFor(async () => /todolist-canary\.yaml:\d+: document: .*kept version from .*VirtualService default\/todolist/.test(await issuesText()), 3000, 'syntax issue reported');
    await new Promise((r) => setTimeout(r, 200));
    expect(gatewayWeights(rds)).toEqual({ v1: 90, v2: 10 });
  });

  it('a valid update replaces it; deleting the resource removes it', async () => {
    cp.write('todolist-canary.yaml', canary.replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    await waitFor(() => gatewayWeights(rds).v1 === 50, 3000, 'valid update served');
    expect(await issuesText()).toBe('');
    cp.write('todolist-canary.yaml', canary.replace(/---\napiVersion: networking.istio.io\/v1\nkind: VirtualService[\s\S]*$/, ''));
    await waitFor(() => gatewayWeights(rds).v1 === undefined, 3000, 'routes gone after deletion');
  });

  it('a new DENY policy with an unknown condition key is rejected and enforced fail-closed on the gateway', async () => {
    const before = lds!.version;
    cp.write('deny.yaml', [
      'apiVersion: security.istio.io/v1', 'kind: AuthorizationPolicy', 'metadata: {name: deny-version, namespace: istio-system}',
      'spec:', '  selector: {matchLabels: {istio: ingressgateway}}', '  action: DENY', '  rules:',
      '    - to: [{operation: {paths: [/api/version]}}]', '      when: [{key: "request.header[x-bad]", values: ["1"]}]', '',
    ].join('\n'));
    await waitFor(() => lds!.version !== before, 3000, 'LDS push');
    const l = lds!.resources.find((r) => r.name === '0.0.0.0_8080')!.message as { filter_chains: { filters: { typed_config: { type_url: string; value: Buffer } }[] }[] };
    const hcm = unpack(l.filter_chains[0].filters[0].typed_config) as unknown as { http_filters: { name: string; typed_config: { type_url: string; value: Buffer } }[] };
    const rbac = unpack(hcm.http_filters[0].typed_config) as unknown as { rules: { action: string; policies: Record<string, { permissions: unknown[] }> } };
    expect(rbac.rules.action).toBe('DENY');
    // The unknown condition is ignored: /api/version is denied whatever the header says.
    expect(rbac.rules.policies['ns[istio-system]-policy[deny-version]-rule[0]'].permissions).toEqual([
      expect.objectContaining({ url_path: expect.objectContaining({ path: expect.objectContaining({ exact: '/api/version' }) }) }),
    ]);
    const text = await issuesText();
    expect(text).toMatch(/AuthorizationPolicy istio-system\/deny-version: spec\.rules\[0\]\.when\[0\]\.key: unknown condition key "request\.header\[x-bad\]".*the DENY policy is enforced fail-closed/);
    const metrics = await (await fetch(`http://127.0.0.1:${cp.monitoringPort}/metrics`)).text();
    expect(metrics).toMatch(/tsmesh_rejected_resources\{kind="AuthorizationPolicy",handling="fail_closed"\} 1/);
  });
});
