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
import { startControlPlane, waitFor, type Running } from './helpers';

const GATEWAY_API = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: v1
kind: Service
metadata: {name: edge-istio, namespace: infra}
spec: {clusterIP: 10.96.0.40, selector: {gateway.networking.k8s.io/gateway-name: edge}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {clusterIP: 10.96.0.41, selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: infra}
type: kubernetes.io/tls
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: apps}
type: kubernetes.io/tls
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
    - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
    - {name: overlap, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
    - {name: same-only, port: 8080, protocol: HTTP}
    - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}, allowedRoutes: {namespaces: {from: All}}}
    - {name: foreign-cert, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: apps}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: http}]
  hostnames: [shop.example.com]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: not-allowed, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: same-only}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-host, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: http}]
  hostnames: [shop.example.org]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross-backend, namespace: infra}
spec:
  parentRefs: [{name: edge, sectionName: same-only}]
  rules: [{backendRefs: [{name: web, namespace: apps, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing-backend, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: http}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: gone, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mirror, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: https}]
  rules: [{filters: [{type: CORS, cors: {allowOrigins: ["https://a.example.com"]}}], backendRefs: [{name: web, port: 80}]}]
`;

type Cond = { type: string; status: string; reason: string; message: string; lastTransitionTime: string };

describe('Gateway API status written to the file store', () => {
  let cp: Running;
  const statusFile = () => join(cp.dir, 'gateway-api.status.yaml');
  const read = (): Map<string, WrittenStatus> => new Map(parseStatusFile(readFileSync(statusFile(), 'utf8'), statusFile()).map((s) => [s.key, s]));
  const conds = (cs: unknown) => (cs as Cond[]).map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');

  beforeAll(async () => {
    cp = await startControlPlane(['base.yaml'], { debounceMs: 50 });
    cp.write('gateway-api.yaml', GATEWAY_API);
    await waitFor(() => existsSync(statusFile()) && read().has('HTTPRoute/apps/mirror') && read().has('KubernetesGateway/infra/edge'), 10_000, 'status file');
    await cp.discovery.gatewayStatusWritten();
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('GatewayClass Accepted; Gateway Accepted and Programmed with the address of its Service', () => {
    const s = read();
    expect(conds(s.get('GatewayClass//istio')!.status.conditions)).toBe('Accepted=True/Accepted');
    const gw = s.get('KubernetesGateway/infra/edge')!.status;
    expect(conds(gw.conditions)).toBe('Accepted=True/Accepted Programmed=True/Programmed');
    expect(gw.addresses).toEqual([{ type: 'IPAddress', value: '10.96.0.40' }]);
    expect(readFileSync(statusFile(), 'utf8')).toMatch(/^kind: Gateway$/m);
  });

  it('listeners: ResolvedRefs (RefNotPermitted for a Secret in another namespace), Conflicted for overlapping listeners, attachedRoutes', () => {
    const listeners = read().get('KubernetesGateway/infra/edge')!.status.listeners as { name: string; attachedRoutes: number; supportedKinds: unknown[]; conditions: Cond[] }[];
    const l = (name: string) => listeners.find((x) => x.name === name)!;
    const c = (name: string, type: string) => { const x = l(name).conditions.find((y) => y.type === type)!; return `${x.status}/${x.reason}`; };
    expect(c('http', 'Conflicted')).toBe('False/NoConflicts');
    expect(c('overlap', 'Conflicted')).toBe('True/HostnameConflict');
    expect(c('https', 'ResolvedRefs')).toBe('True/ResolvedRefs');
    expect(c('foreign-cert', 'ResolvedRefs')).toBe('False/RefNotPermitted');
    expect(c('foreign-cert', 'Programmed')).toBe('False/Invalid');
    expect(l('http').supportedKinds).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }, { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' }]);
    // shop and missing-backend on http; cross-backend on same-only; mirror on https.
    expect(listeners.map((x) => `${x.name}:${x.attachedRoutes}`)).toEqual(['http:2', 'overlap:0', 'same-only:1', 'https:1', 'foreign-cert:0']);
  });

  it('route parents: Accepted / ResolvedRefs with NotAllowedByListeners, NoMatchingListenerHostname, RefNotPermitted, BackendNotFound, UnsupportedValue', () => {
    const s = read();
    const parent = (key: string) => {
      const p = (s.get(key)!.status.parents as { parentRef: { name: string }; controllerName: string; conditions: Cond[] }[])[0];
      expect(p.controllerName).toBe('istio.io/gateway-controller');
      return conds(p.conditions);
    };
    expect(parent('HTTPRoute/apps/shop')).toBe('Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs');
    expect(parent('HTTPRoute/apps/not-allowed')).toBe('Accepted=False/NotAllowedByListeners ResolvedRefs=True/ResolvedRefs');
    expect(parent('HTTPRoute/apps/wrong-host')).toBe('Accepted=False/NoMatchingListenerHostname ResolvedRefs=True/ResolvedRefs');
    expect(parent('HTTPRoute/infra/cross-backend')).toBe('Accepted=True/Accepted ResolvedRefs=False/RefNotPermitted');
    expect(parent('HTTPRoute/apps/missing-backend')).toBe('Accepted=True/Accepted ResolvedRefs=False/BackendNotFound');
    expect(parent('HTTPRoute/apps/mirror')).toBe('Accepted=True/Accepted ResolvedRefs=False/UnsupportedValue');
  });

  it('the status file is not read as config', async () => {
    const issues = await (await fetch(`http://127.0.0.1:${cp.monitoringPort}/debug/config_issues?format=text`)).text();
    expect(issues).not.toMatch(/status\.yaml/);
  });

  it('a ReferenceGrant and a fixed backend update the status; unchanged conditions keep their transition time; deletion removes it', async () => {
    const before = read();
    const shopTime = (before.get('HTTPRoute/apps/shop')!.status.parents as { conditions: Cond[] }[])[0].conditions[0].lastTransitionTime;
    await new Promise((r) => setTimeout(r, 20));
    cp.write('gateway-api.yaml', `${GATEWAY_API.replace('{name: gone, port: 80}', '{name: web, port: 80}')}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-infra, namespace: apps}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: infra}]
  to: [{group: "", kind: Service}]
`);
    const resolved = (key: string) => (read().get(key)?.status.parents as { conditions: Cond[] }[] | undefined)?.[0].conditions.find((c) => c.type === 'ResolvedRefs')?.reason;
    await waitFor(() => resolved('HTTPRoute/apps/missing-backend') === 'ResolvedRefs' && resolved('HTTPRoute/infra/cross-backend') === 'ResolvedRefs', 10_000, 'status after the fix');
    const after = read();
    expect((after.get('HTTPRoute/apps/shop')!.status.parents as { conditions: Cond[] }[])[0].conditions[0].lastTransitionTime).toBe(shopTime);
    expect((after.get('HTTPRoute/apps/missing-backend')!.status.parents as { conditions: Cond[] }[])[0].conditions[1].lastTransitionTime > shopTime).toBe(true);
    rmSync(join(cp.dir, 'gateway-api.yaml'));
    await waitFor(() => !existsSync(statusFile()), 10_000, 'status file removed');
  });
});
