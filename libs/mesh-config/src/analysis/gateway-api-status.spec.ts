import { describe, expect, it } from 'vitest';
import { parseConfigYaml } from '../yaml';
import { analyzeConfig } from './analyze';
import { gatewayApiStatus } from './gateway-api-status';
import { formatIssue } from '../issues';
import {
  EXPECTED_ATTACHED_ROUTES, EXPECTED_GATEWAY_ADDRESSES, EXPECTED_GATEWAY_CONDITIONS, EXPECTED_LISTENER_CONDITIONS, EXPECTED_ROUTE_PARENTS,
  GATEWAY_API_STATUS_YAML as YAML,
} from '../testing/gateway-api-status';

describe('Gateway API status', () => {
  const parsed = parseConfigYaml(YAML, 'gw.yaml');
  it('gives each resource the conditions and reasons Gateway API defines', () => {
    expect(parsed.issues.map(formatIssue)).toEqual([]);
    const s = gatewayApiStatus(parsed.resources);
    expect(s.get('GatewayClass//istio')!.conditions).toEqual([{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Handled by tsmesh' }]);
    const gw = s.get('KubernetesGateway/infra/gw')!;
    expect(gw.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ')).toBe(EXPECTED_GATEWAY_CONDITIONS);
    expect(gw.addresses).toEqual(EXPECTED_GATEWAY_ADDRESSES);
    const cond = (name: string, type: string) => { const c = gw.listeners!.find((l) => l.name === name)!.conditions.find((x) => x.type === type)!; return `${c.status}/${c.reason}`; };
    for (const [name, type, expected] of EXPECTED_LISTENER_CONDITIONS) expect(`${name} ${type}=${cond(name, type)}`).toBe(`${name} ${type}=${expected}`);
    expect(gw.listeners!.map((l) => `${l.name}:${l.attachedRoutes}`)).toEqual(EXPECTED_ATTACHED_ROUTES);
    const parents = Object.fromEntries([...s].flatMap(([key, v]) => (v.parents ?? []).map((p, i) => [`${key}#${i}`, p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ')])));
    expect(parents).toEqual(EXPECTED_ROUTE_PARENTS);
  });

  it('Programmed: the address of the deployed Service, of the Service spec.addresses names, or why there is none', () => {
    const more = parseConfigYaml(`${YAML}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: manual, namespace: infra}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: edge.istio-system.svc.cluster.local}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: nowhere, namespace: infra}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: absent.istio-system.svc.cluster.local}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: pending, namespace: infra}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: istio-system}
spec: {clusterIP: 10.96.0.7, selector: {istio: ingressgateway}, ports: [{port: 80}]}
`, 'gw.yaml');
    const s = gatewayApiStatus(more.resources);
    const programmed = (name: string) => { const g = s.get(`KubernetesGateway/infra/${name}`)!; const c = g.conditions!.find((x) => x.type === 'Programmed')!; return `${c.status}/${c.reason} ${JSON.stringify(g.addresses)}`; };
    expect(programmed('manual')).toBe('True/Programmed [{"type":"IPAddress","value":"10.96.0.7"}]');
    expect(programmed('nowhere')).toBe('False/AddressNotUsable []');
    expect(programmed('pending')).toBe('False/AddressNotAssigned []');
  });

  it("Programmed: a LoadBalancer Service's ingress IPs and hostnames once assigned, its cluster IP before", () => {
    const lb = (status: string) => gatewayApiStatus(parseConfigYaml(YAML.replace('spec: {clusterIP: 10.96.0.40,', `status: ${status}\nspec: {type: LoadBalancer, clusterIP: 10.96.0.40,`), 'gw.yaml').resources)
      .get('KubernetesGateway/infra/gw')!.addresses;
    expect(lb('{loadBalancer: {ingress: [{ip: 172.18.255.200}, {hostname: gw.lb.example.com}]}}')).toEqual([{ type: 'IPAddress', value: '172.18.255.200' }, { type: 'Hostname', value: 'gw.lb.example.com' }]);
    expect(lb('{loadBalancer: {}}')).toEqual([{ type: 'IPAddress', value: '10.96.0.40' }]);
  });

  it('allowedRoutes: a namespace Selector over Namespace labels, route kinds (InvalidRouteKinds), a mirror backend resolved like any backendRef', () => {
    const more = parseConfigYaml(`
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: sel, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
    - {name: team, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: shop}}}}}
    - {name: tcp-only, port: 81, protocol: HTTP, allowedRoutes: {namespaces: {from: All}, kinds: [{kind: TCPRoute}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: in-shop, namespace: shop}
spec:
  parentRefs: [{name: sel, namespace: infra, sectionName: team}]
  rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web, port: 80}}}], backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: in-other, namespace: other}
spec:
  parentRefs: [{name: sel, namespace: infra, sectionName: team}]
  rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: nothing, namespace: other, port: 80}}}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-kind, namespace: shop}
spec:
  parentRefs: [{name: sel, namespace: infra, sectionName: tcp-only}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
`, 'sel.yaml');
    expect(more.issues.map(formatIssue)).toEqual([]);
    const s = gatewayApiStatus(more.resources);
    const parent = (key: string) => s.get(key)!.parents![0].conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');
    expect(parent('HTTPRoute/shop/in-shop')).toBe('Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs');
    expect(parent('HTTPRoute/other/in-other')).toBe('Accepted=False/NotAllowedByListeners ResolvedRefs=False/BackendNotFound');
    expect(parent('HTTPRoute/shop/wrong-kind')).toBe('Accepted=False/NotAllowedByListeners ResolvedRefs=True/ResolvedRefs');
    const l = s.get('KubernetesGateway/infra/sel')!.listeners!.find((x) => x.name === 'tcp-only')!;
    expect(l.conditions.find((c) => c.type === 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'InvalidRouteKinds' });
  });

  it('tsmesh analyze shows every unsatisfied condition with its reason', () => {
    const msgs = analyzeConfig({ resources: parsed.resources }).messages.filter((m) => m.code === 'TSM0103').map((m) => `${m.origin}: ${m.message.split(':').slice(0, 2).join(':')}`);
    expect(msgs).toContain('HTTPRoute apps/not-allowed: parent Gateway infra/gw: Accepted=False NotAllowedByListeners');
    expect(msgs).toContain('HTTPRoute apps/missing-backend: parent Gateway infra/gw: ResolvedRefs=False BackendNotFound');
    expect(msgs).toContain('KubernetesGateway infra/gw: listener cross: ResolvedRefs=False RefNotPermitted');
    expect(msgs).not.toContain(expect.stringContaining('apps/good'));
  });
});
