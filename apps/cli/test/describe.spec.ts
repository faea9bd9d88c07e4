/** `tsmesh x describe pod|svc` over Kubernetes and Istio objects as the control plane's /debug/configz lists them. */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { authorizationPoliciesFor, describePod, describeService, effectivePeerAuthentication } from '../src/commands/describe';
import type { KubeObjectView } from '../src/commands/pod-access';

const objects = parseAllDocuments(`
apiVersion: v1
kind: Service
metadata: {name: callme-service, namespace: default}
spec: {selector: {app: callme-service}, ports: [{name: http, port: 8091, targetPort: 8091}]}
---
apiVersion: v1
kind: Pod
metadata: {name: callme-service-v1-abc, namespace: default, labels: {app: callme-service, version: v1}}
spec: {containers: [{name: callme-service, ports: [{containerPort: 8091}]}, {name: istio-proxy, ports: [{containerPort: 15090}]}]}
status: {podIP: 10.244.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: callme-service-v2-def, namespace: default, labels: {app: callme-service, version: v2}}
spec: {containers: [{name: callme-service}, {name: istio-proxy}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: default, labels: {app: lonely}}
spec: {containers: [{name: lonely}]}
---
apiVersion: v1
kind: Pod
metadata: {name: istio-ingressgateway-xyz, namespace: istio-system, labels: {istio: ingressgateway}}
spec: {containers: [{name: istio-proxy}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: callme-service, namespace: default}
spec:
  host: callme-service
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}, outlierDetection: {consecutive5xxErrors: 1}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: callme-service, namespace: default}
spec:
  hosts: [callme-service]
  http:
    - name: split
      match: [{uri: {prefix: /callme/}}]
      fault: {abort: {httpStatus: 500, percentage: {value: 10}}}
      route:
        - {destination: {host: callme-service, subset: v1}, weight: 20}
        - {destination: {host: callme-service, subset: v2}, weight: 80}
      timeout: 10s
      retries: {attempts: 3, perTryTimeout: 2s}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: default}
spec:
  hosts: ["*"]
  gateways: [tsmesh-gateway]
  http:
    - route: [{destination: {host: callme-service.default.svc.cluster.local, port: {number: 8091}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tsmesh-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: v2-plain, namespace: default}
spec: {selector: {matchLabels: {version: v2}}, mtls: {mode: UNSET}, portLevelMtls: {"8091": {mode: DISABLE}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-caller, namespace: default}
spec:
  selector: {matchLabels: {app: callme-service}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/caller-service]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-other, namespace: default}
spec:
  selector: {matchLabels: {app: other}}
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-audit, namespace: istio-system}
spec: {action: AUDIT, rules: [{}]}
`).map((d) => d.toJS() as KubeObjectView);

describe('x describe', () => {
  it('pod: its service, matching subsets, the routes to its subset with weights, the gateway, mTLS mode and policies', () => {
    const text = describePod(objects, 'callme-service-v1-abc', 'default');
    expect(text).toContain('Pod: callme-service-v1-abc.default\n   Pod Ports: 8091 (callme-service), 15090 (istio-proxy)');
    expect(text).toContain('Service: callme-service.default\n   Port: http 8091/HTTP targets pod port 8091');
    expect(text).toContain('DestinationRule: callme-service.default for "callme-service"\n   Matching subsets: v1\n      (Non-matching subsets v2)\n   Traffic Policy TLS Mode: ISTIO_MUTUAL\n   Policies: TLS outlierDetection');
    expect(text).toContain('VirtualService: callme-service.default\n   1 route(s) reach "callme-service.default.svc.cluster.local" (1 HTTP route(s) in all)');
    expect(text).toContain('   HTTP route "split" #0: /callme/*\n      Route to host "callme-service" subset "v1" with weight 20% (this pod)\n      Route to host "callme-service" subset "v2" with weight 80%\n      Weight to this pod\'s subset: 20%');
    expect(text).toContain('      Fault injection: abort 500 for 10%\n      Timeout: 10s\n      Retries: 3 attempts, 2s per try');
    expect(text).toContain('   Bound to: default/tsmesh-gateway');
    expect(text).toContain('Exposed on Ingress Gateway tsmesh-gateway.default (selector istio=ingressgateway: istio-ingressgateway-xyz)\n   HTTP 80 hosts *\n   via VirtualService edge.default: *');
    expect(text).toContain('Effective PeerAuthentication:\n   Workload mTLS mode: STRICT\nApplied PeerAuthentication:\n   default.default, default.istio-system');
    expect(text).toContain('AuthorizationPolicies:\n   ALLOW allow-caller.default: 1 rule(s)\n   AUDIT mesh-audit.istio-system: 1 rule(s)\n   (with an ALLOW policy, requests no ALLOW rule matches are denied)');
    expect(text).not.toContain('deny-other');
  });

  it('PeerAuthentication precedence: workload over namespace over mesh, UNSET inherits, port-level modes', () => {
    const v2 = { app: 'callme-service', version: 'v2' };
    expect(effectivePeerAuthentication(objects, 'default', v2)).toMatchObject({ mode: 'STRICT' });
    expect(effectivePeerAuthentication(objects, 'default', v2, 8091).mode).toBe('DISABLE');
    expect(effectivePeerAuthentication(objects, 'default', v2).applied.map((p) => p.metadata.name)).toEqual(['v2-plain', 'default', 'default']);
    expect(effectivePeerAuthentication(objects, 'other', {}).mode).toBe('PERMISSIVE');
    expect(effectivePeerAuthentication([], 'other', {})).toEqual({ mode: 'PERMISSIVE', applied: [] });
    expect(authorizationPoliciesFor(objects, 'default', { app: 'other' }).map((p) => p.metadata.name)).toEqual(['deny-other', 'mesh-audit']);
  });

  it('svc: ports, pods, subsets, routes with weights, gateway; a pod outside the mesh and a missing service are explained', () => {
    const text = describeService(objects, 'callme-service', 'default');
    expect(text).toMatch(/^Service: callme-service\.default\n {3}Port: http 8091\/HTTP targets pod port 8091\n {3}Pods: callme-service-v1-abc, callme-service-v2-def\n/);
    expect(text).toContain('   Subsets: v1 (version=v1), v2 (version=v2)');
    expect(text).toContain('Route to host "callme-service" subset "v1" with weight 20%\n');
    expect(text).toContain('Route to host "callme-service.default.svc.cluster.local" port 8091 with weight 100%');
    expect(text).not.toContain('(this pod)');
    // v2's workload policy makes its pods' outcome differ, so both are listed
    expect(text).toContain('(for callme-service-v2-def)');
    const lonely = describePod(objects, 'lonely', 'default');
    expect(lonely).toContain('WARNING: no istio-proxy container');
    expect(lonely).toContain('Suggestion: no Service selects this pod');
    expect(lonely).toContain('AuthorizationPolicies:\n   AUDIT mesh-audit.istio-system');
    expect(() => describeService(objects, 'nope', 'default')).toThrow('service "nope" in namespace default not found; services: callme-service');
    expect(() => describePod(objects, 'nope')).toThrow(/pod "nope" not found; pods: .*callme-service-v1-abc\.default/);
  });
});
