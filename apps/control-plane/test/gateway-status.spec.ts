/**
 * Gateway API status written back by the control plane into the file store: a status file beside
 * the config file (`<name>.status.yaml`) with every condition and reason Gateway API defines for the
 * cases of the issue — Accepted, Programmed with the address, listener ResolvedRefs / Conflicted /
 * attachedRoutes, route parents NotAllowedByListeners, NoMatchingListenerHostname, RefNotPermitted
 * (Secret and backend in another namespace without a ReferenceGrant), BackendNotFound, an
 * unsupported filter (UnsupportedValue) — updated when the config changes (transition times kept
 * for unchanged conditions) and removed with the resource. The status file is never read as config.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseStatusFile, type WrittenStatus } from '@tsmesh/mesh-config';
import {
  EXPECTED_ATTACHED_ROUTES, EXPECTED_GATEWAY_ADDRESSES, EXPECTED_GATEWAY_CONDITIONS, EXPECTED_LISTENER_CONDITIONS, EXPECTED_ROUTE_PARENTS,
  GATEWAY_API_STATUS_FIXED_YAML, GATEWAY_API_STATUS_YAML as GATEWAY_API,
} from '@tsmesh/mesh-config/testing';
import { startControlPlane, waitFor, type Running } from './helpers';

type Cond = { type: string; status: string; reason: string; message: string; lastTransitionTime: string };

describe('Gateway API status written to the file store', () => {
  let cp: Running;
  const statusFile = () => join(cp.dir, 'gateway-api.status.yaml');
  const read = (): Map<string, WrittenStatus> => new Map(parseStatusFile(readFileSync(statusFile(), 'utf8'), statusFile()).map((s) => [s.key, s]));
  const conds = (cs: unknown) => (cs as Cond[]).map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');

  beforeAll(async () => {
    cp = await startControlPlane(['base.yaml'], { debounceMs: 50 });
    cp.write('gateway-api.yaml', GATEWAY_API);
    await waitFor(() => existsSync(statusFile()) && read().has('HTTPRoute/apps/unsupported') && read().has('KubernetesGateway/infra/gw'), 10_000, 'status file');
    await cp.discovery.gatewayStatusWritten();
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('GatewayClass Accepted; Gateway Accepted and Programmed with the address of its Service', () => {
    const s = read();
    expect(conds(s.get('GatewayClass//istio')!.status.conditions)).toBe('Accepted=True/Accepted');
    const gw = s.get('KubernetesGateway/infra/gw')!.status;
    expect(conds(gw.conditions)).toBe(EXPECTED_GATEWAY_CONDITIONS);
    expect(gw.addresses).toEqual(EXPECTED_GATEWAY_ADDRESSES);
    expect(readFileSync(statusFile(), 'utf8')).toMatch(/^kind: Gateway$/m);
  });

  it('listeners: ResolvedRefs (RefNotPermitted for a Secret in another namespace), Conflicted for overlapping listeners, attachedRoutes', () => {
    const listeners = read().get('KubernetesGateway/infra/gw')!.status.listeners as { name: string; attachedRoutes: number; supportedKinds: unknown[]; conditions: Cond[] }[];
    const l = (name: string) => listeners.find((x) => x.name === name)!;
    const c = (name: string, type: string) => { const x = l(name).conditions.find((y) => y.type === type)!; return `${x.status}/${x.reason}`; };
    for (const [name, type, expected] of EXPECTED_LISTENER_CONDITIONS) expect(`${name} ${type}=${c(name, type)}`).toBe(`${name} ${type}=${expected}`);
    expect(c('cross', 'Programmed')).toBe('False/Invalid');
    expect(l('http').supportedKinds).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }, { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' }]);
    expect(listeners.map((x) => `${x.name}:${x.attachedRoutes}`)).toEqual(EXPECTED_ATTACHED_ROUTES);
  });

  it('route parents: Accepted / ResolvedRefs with NotAllowedByListeners, NoMatchingListenerHostname, NoMatchingParent, RefNotPermitted, BackendNotFound, UnsupportedValue', () => {
    const parents: Record<string, string> = {};
    for (const [key, w] of read()) {
      for (const [i, p] of ((w.status.parents ?? []) as { controllerName: string; conditions: Cond[] }[]).entries()) {
        expect(p.controllerName).toBe('istio.io/gateway-controller');
        parents[`${key}#${i}`] = conds(p.conditions);
      }
    }
    expect(parents).toEqual(EXPECTED_ROUTE_PARENTS);
  });

  it('the status file is not read as config', async () => {
    const issues = await (await fetch(`http://127.0.0.1:${cp.monitoringPort}/debug/config_issues?format=text`)).text();
    expect(issues).not.toMatch(/status\.yaml/);
  });

  it('a ReferenceGrant and a fixed backend update the status; unchanged conditions keep their transition time; deletion removes it', async () => {
    const before = read();
    const shopTime = (before.get('HTTPRoute/apps/good')!.status.parents as { conditions: Cond[] }[])[0].conditions[0].lastTransitionTime;
    await new Promise((r) => setTimeout(r, 20));
    cp.write('gateway-api.yaml', GATEWAY_API_STATUS_FIXED_YAML);
    const resolved = (key: string) => (read().get(key)?.status.parents as { conditions: Cond[] }[] | undefined)?.[0].conditions.find((c) => c.type === 'ResolvedRefs')?.reason;
    await waitFor(() => resolved('HTTPRoute/apps/missing-backend') === 'ResolvedRefs' && resolved('HTTPRoute/infra/refs') === 'ResolvedRefs', 10_000, 'status after the fix');
    const after = read();
    expect((after.get('HTTPRoute/apps/good')!.status.parents as { conditions: Cond[] }[])[0].conditions[0].lastTransitionTime).toBe(shopTime);
    expect((after.get('HTTPRoute/apps/missing-backend')!.status.parents as { conditions: Cond[] }[])[0].conditions[1].lastTransitionTime > shopTime).toBe(true);
    rmSync(join(cp.dir, 'gateway-api.yaml'));
    await waitFor(() => !existsSync(statusFile()), 10_000, 'status file removed');
  });
});
