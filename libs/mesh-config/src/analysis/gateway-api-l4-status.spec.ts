import { describe, expect, it } from 'vitest';
import { parseConfigYaml } from '../yaml';
import { validateConfig } from '../validate/validate';
import { gatewayApiStatus } from './gateway-api-status';
import { kubernetesStatus, parseStatusFile, renderStatusFile } from '../gateway-api/status';
import { analyzeConfig } from './analyze';
import { formatIssue } from '../issues';
import { referenceGrants, resolveCertificateRef } from '../gateway-api/reference-grant';
import type { KubernetesGatewayObject } from '../types/gateway-api';

const YAML = `
apiVersion: v1
kind: Service
metadata: {name: db, namespace: apps}
spec: {ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: elsewhere}
spec: {ports: [{port: 5432}]}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: certs}
type: kubernetes.io/tls
---
apiVersion: v1
kind: Secret
metadata: {name: private, namespace: certs}
type: kubernetes.io/tls
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways-to-cert, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: infra}]
  to: [{group: "", kind: Secret, name: cert}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
    - {name: tls-pt, port: 443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}, allowedRoutes: {namespaces: {from: All}}}
    - {name: tls-term, port: 8443, protocol: TLS, tls: {mode: Terminate, certificateRefs: [{name: cert, namespace: certs}]}, allowedRoutes: {namespaces: {from: All}}}
    - {name: tls-denied, port: 9443, protocol: TLS, tls: {certificateRefs: [{name: private, namespace: certs}]}, allowedRoutes: {namespaces: {from: All}}}
    - {name: https-cross, port: 10443, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: certs}]}}
    - {name: tcp, port: 9000, protocol: TCP, allowedRoutes: {namespaces: {from: All}}}
    - {name: udp, port: 9001, protocol: UDP}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: db-tls, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tls-pt}]
  hostnames: [db.example.com]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: wrong-host, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tls-pt}]
  hostnames: [db.example.org]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db-tcp, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tcp}, {name: gw, namespace: infra, sectionName: tls-pt}, {name: gw, namespace: infra, sectionName: tls-term}]
  rules: [{backendRefs: [{name: db, port: 5432, weight: 80}, {name: db, port: 5432, weight: 20}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: cross-backend, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tcp}]
  rules: [{backendRefs: [{name: other, namespace: elsewhere, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: gone, namespace: apps}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tcp}, {name: absent, namespace: infra}]
  rules: [{backendRefs: [{name: nothing, port: 5432}]}]
`;

describe('TLSRoute, TCPRoute and cross-namespace certificateRefs status', () => {
  const parsed = parseConfigYaml(YAML, 'l4.yaml');
  const s = gatewayApiStatus(parsed.resources);
  const gw = s.get('KubernetesGateway/infra/gw')!;
  const cond = (name: string, type: string) => { const c = gw.listeners!.find((l) => l.name === name)!.conditions.find((x) => x.type === type)!; return `${c.status}/${c.reason}`; };
  const parent = (route: string, i = 0) => s.get(route)!.parents![i].conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join(' ');

  it('parses and validates (v1alpha2 TLSRoute and TCPRoute against the published schema)', () => {
    expect(parsed.issues.map(formatIssue)).toEqual([]);
    expect(validateConfig(parsed.resources).issues.filter((i) => i.severity === 'error').map(formatIssue)).toEqual([]);
  });

  it('TLS and TCP listeners are accepted; UDP is UnsupportedProtocol', () => {
    for (const l of ['tls-pt', 'tls-term', 'tcp']) expect(cond(l, 'Accepted')).toBe('True/Accepted');
    expect(cond('udp', 'Accepted')).toBe('False/UnsupportedProtocol');
  });

  it('a certificateRef into another namespace resolves only with a ReferenceGrant for that Secret there', () => {
    expect(cond('tls-term', 'ResolvedRefs')).toBe('True/ResolvedRefs');
    expect(cond('https-cross', 'ResolvedRefs')).toBe('True/ResolvedRefs');
    // The grant names Secret "cert" only: "private" is not permitted, and the listener is not programmed.
    expect(cond('tls-denied', 'ResolvedRefs')).toBe('False/RefNotPermitted');
    expect(cond('tls-denied', 'Programmed')).toBe('False/Invalid');
    expect(cond('tls-term', 'Programmed')).toBe('True/Programmed');
  });

  it('route parents: Accepted with the spec reasons, ResolvedRefs, attachedRoutes', () => {
    expect(parent('TLSRoute/apps/db-tls')).toBe('Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs');
    expect(parent('TLSRoute/apps/wrong-host')).toBe('Accepted=False/NoMatchingListenerHostname ResolvedRefs=True/ResolvedRefs');
    expect(parent('TCPRoute/apps/db-tcp', 0)).toBe('Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs');
    // A Passthrough listener takes TLSRoutes only; a Terminate one TCPRoutes too.
    expect(parent('TCPRoute/apps/db-tcp', 1)).toBe('Accepted=False/NotAllowedByListeners ResolvedRefs=True/ResolvedRefs');
    expect(parent('TCPRoute/apps/db-tcp', 2)).toBe('Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs');
    expect(parent('TCPRoute/apps/cross-backend')).toBe('Accepted=True/Accepted ResolvedRefs=False/RefNotPermitted');
    expect(parent('TCPRoute/apps/gone', 0)).toBe('Accepted=True/Accepted ResolvedRefs=False/BackendNotFound');
    expect(parent('TCPRoute/apps/gone', 1)).toBe('Accepted=False/NoMatchingParent ResolvedRefs=False/BackendNotFound');
    expect(gw.listeners!.map((l) => `${l.name}:${l.attachedRoutes}`)).toEqual(['tls-pt:1', 'tls-term:1', 'tls-denied:0', 'https-cross:0', 'tcp:3', 'udp:0']);
  });

  it('written status: listener supportedKinds by protocol and TLS mode, route parents', () => {
    const r = parsed.resources.find((x) => x.key === 'KubernetesGateway/infra/gw')!;
    const k = kubernetesStatus(r, gw, undefined, '2026-01-01T00:00:00Z') as { listeners: { name: string; supportedKinds: { kind: string }[] }[] };
    const kinds = Object.fromEntries(k.listeners.map((l) => [l.name, l.supportedKinds.map((x) => x.kind)]));
    expect(kinds).toEqual({ 'tls-pt': ['TLSRoute'], 'tls-term': ['TLSRoute', 'TCPRoute'], 'tls-denied': ['TLSRoute', 'TCPRoute'], 'https-cross': ['HTTPRoute', 'GRPCRoute'], tcp: ['TCPRoute'], udp: [] });
    const route = parsed.resources.find((x) => x.key === 'TLSRoute/apps/db-tls')!;
    const rs = kubernetesStatus(route, s.get(route.key)!, undefined, '2026-01-01T00:00:00Z') as { parents: { parentRef: { sectionName: string }; conditions: { reason: string }[] }[] };
    expect(rs.parents.map((p) => [p.parentRef.sectionName, p.conditions.map((c) => c.reason)])).toEqual([['tls-pt', ['Accepted', 'ResolvedRefs']]]);
  });

  it('tsmesh analyze shows the unmet conditions of listeners, TLSRoutes and TCPRoutes; the status file round-trips TLSRoute and TCPRoute', () => {
    const msgs = analyzeConfig({ resources: parsed.resources }).messages.filter((m) => m.code === 'TSM0103').map((m) => `${m.origin}: ${m.message.split(':').slice(0, 2).join(':')}`);
    expect(msgs).toContain('KubernetesGateway infra/gw: listener tls-denied: ResolvedRefs=False RefNotPermitted');
    expect(msgs).toContain('KubernetesGateway infra/gw: listener udp: Accepted=False UnsupportedProtocol');
    expect(msgs).toContain('TLSRoute apps/wrong-host: parent Gateway infra/gw: Accepted=False NoMatchingListenerHostname');
    expect(msgs).toContain('TCPRoute apps/db-tcp: parent Gateway infra/gw: Accepted=False NotAllowedByListeners');
    expect(msgs).toContain('TCPRoute apps/cross-backend: parent Gateway infra/gw: ResolvedRefs=False RefNotPermitted');
    expect(msgs).not.toContain(expect.stringContaining('TLSRoute apps/db-tls'));
    const entries = ['TLSRoute/apps/db-tls', 'TCPRoute/apps/gone'].map((k) => {
      const r = parsed.resources.find((x) => x.key === k)!;
      return { r, status: kubernetesStatus(r, s.get(k)!, undefined, '2026-01-01T00:00:00Z') };
    });
    const back = parseStatusFile(renderStatusFile(entries), 'l4.status.yaml');
    expect(back.map((b) => `${b.key} ${(b.status.parents as unknown[]).length}`)).toEqual(['TCPRoute/apps/gone 2', 'TLSRoute/apps/db-tls 1']);
  });

  it('resolveCertificateRef: same namespace, granted, not granted, not a Secret, missing', () => {
    const byKind = (k: string) => parsed.resources.filter((r) => r.kind === k);
    const granted = referenceGrants(byKind);
    const l = (ref: Record<string, string>) => ({ name: 'x', port: 1, protocol: 'HTTPS', tls: { certificateRefs: [ref] } }) as unknown as KubernetesGatewayObject['spec']['listeners'][number];
    expect(resolveCertificateRef(l({ name: 'cert' }), 'certs', byKind, granted)).toEqual({ ok: true, namespace: 'certs', name: 'cert', crossNamespace: false });
    expect(resolveCertificateRef(l({ name: 'cert', namespace: 'certs' }), 'infra', byKind, granted)).toEqual({ ok: true, namespace: 'certs', name: 'cert', crossNamespace: true });
    // The grant is from Gateways of "infra" only.
    expect(resolveCertificateRef(l({ name: 'cert', namespace: 'certs' }), 'apps', byKind, granted)).toMatchObject({ ok: false, reason: 'RefNotPermitted' });
    expect(resolveCertificateRef(l({ name: 'cert', kind: 'ConfigMap' }), 'certs', byKind, granted)).toMatchObject({ ok: false, reason: 'InvalidCertificateRef' });
    expect(resolveCertificateRef(l({ name: 'nope' }), 'certs', byKind, granted)).toMatchObject({ ok: false, reason: 'InvalidCertificateRef', missing: { namespace: 'certs', name: 'nope' } });
  });

  it('refuses a Service backendRef without a port, and a TLS Terminate listener without certificateRefs', () => {
    const bad = parseConfigYaml(`
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: noport, namespace: apps}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: db}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: nocert, namespace: apps}
spec:
  gatewayClassName: istio
  listeners: [{name: t, port: 443, protocol: TLS, tls: {mode: Terminate}}]
`, 'bad.yaml');
    const errors = validateConfig(bad.resources).issues.filter((i) => i.severity === 'error').map(formatIssue);
    expect(errors.some((e) => /TCPRoute apps\/noport: spec\.rules\[0\]\.backendRefs\[0\]\.port: port is required/.test(e))).toBe(true);
    expect(errors.some((e) => /Gateway apps\/nocert: spec\.listeners\[0\]\.tls\.certificateRefs: certificateRefs or options must be specified/.test(e))).toBe(true);
  });
});
