/**
 * Gateways enforce policy: a router proxy (a real ADS client over gRPC) connected to the control
 * plane gets the AuthorizationPolicy it is selected by — the exact DENY for /api/version on
 * `istio: ingressgateway` in istio-system — in its listener's HTTP connection manager, pushed to
 * it (the push counts it), with `xff_num_trusted_hops` from the mesh config.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdsClient, formatNodeId, TypeUrl, unpack, type XdsUpdate } from '@tsmesh/xds';
import { FileStore } from '../src/config/file-store';
import { Discovery } from '../src/server/discovery';
import { parseMeshConfig } from '../src/model/mesh-config';
import { golden, waitFor } from './helpers';

const GATEWAY = formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' });

/** The issue's reproduction, byte for byte in meaning. */
const DENY_VERSION = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-version
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/api/version"]
`;

type Hcm = { http_filters: { name: string; typed_config: { type_url: string; value: Buffer } }[]; xff_num_trusted_hops?: number; use_remote_address?: { value: boolean } };

function gatewayHcm(u: XdsUpdate | undefined): Hcm | undefined {
  const l = u?.resources.find((r) => r.name === '0.0.0.0_8080')?.message as { filter_chains: { filters: { typed_config: { type_url: string; value: Buffer } }[] }[] } | undefined;
  const tc = l?.filter_chains[0]?.filters[0]?.typed_config;
  return tc ? (unpack(tc) as unknown as Hcm) : undefined;
}

describe('gateway policy enforcement (control plane side)', () => {
  let dir: string;
  let discovery: Discovery;
  let client: AdsClient;
  let lds: XdsUpdate | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-gwpol-'));
    for (const f of ['base.yaml', 'todolist-canary.yaml']) copyFileSync(golden(f), join(dir, f));
    const meshConfig = parseMeshConfig('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n    defaultConfig:\n      gatewayTopology:\n        numTrustedProxies: 2\n', 'istio.yaml');
    discovery = new Discovery({ stores: [new FileStore(dir)], debounceMs: 50, debounceMaxMs: 1000, push: { meshConfig } });
    await discovery.start();
    const port = await discovery.listen('127.0.0.1:0');
    client = new AdsClient({ server: `127.0.0.1:${port}`, node: { id: GATEWAY, cluster: 'istio-ingressgateway' }, backoff: { initialMs: 50, maxMs: 500 } });
    client.watch(TypeUrl.Listener, '*', (u) => { lds = u; });
    client.start();
    await waitFor(() => lds !== undefined, 5000, 'first LDS');
  });
  afterAll(async () => {
    client?.close();
    await discovery?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('without a policy the gateway has CORS, fault and router only, and trusts numTrustedProxies hops of X-Forwarded-For', () => {
    const hcm = gatewayHcm(lds)!;
    expect(hcm.http_filters.map((f) => f.name)).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    expect(hcm.xff_num_trusted_hops).toBe(2);
    expect(hcm.use_remote_address?.value).toBe(true);
  });

  it('the DENY for /api/version selecting istio: ingressgateway is pushed to the gateway, before fault injection', async () => {
    const before = lds!.version;
    writeFileSync(join(dir, 'deny-version.yaml'), DENY_VERSION);
    await waitFor(() => lds!.version !== before, 3000, 'LDS push to the gateway');
    const hcm = gatewayHcm(lds)!;
    expect(hcm.http_filters.map((f) => f.name)).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.cors', 'envoy.filters.http.fault', 'envoy.filters.http.router']);
    const rbac = unpack(hcm.http_filters[0].typed_config) as unknown as { rules: { action: string; policies: Record<string, { permissions: unknown[] }> } };
    expect(rbac.rules.action).toBe('DENY');
    expect(rbac.rules.policies['ns[istio-system]-policy[deny-version]-rule[0]'].permissions).toEqual([
      expect.objectContaining({ url_path: expect.objectContaining({ path: expect.objectContaining({ exact: '/api/version' }) }) }),
    ]);
    const push = discovery.lastPushSummary()!;
    expect(push.trigger).toContain('AuthorizationPolicy/istio-system/deny-version');
    expect(push.pushed).toBe(1);
    expect(discovery.configIssues()).toEqual([]);
  });

  it('a policy for other workloads does not reach the gateway', async () => {
    writeFileSync(join(dir, 'other.yaml'), DENY_VERSION.replace('deny-version', 'deny-other').replace('istio: ingressgateway', 'app: todolist').replace('istio-system', 'default'));
    await waitFor(() => discovery.lastPushSummary()!.trigger.includes('AuthorizationPolicy/default/deny-other'), 3000, 'push of the other policy');
    expect(discovery.lastPushSummary()!.pushed).toBe(0);
  });
});
