import { describe, expect, it } from 'vitest';
import { formatIssue, parseConfigYaml, validateConfig } from '@tsmesh/mesh-config';
import { PushContext } from '../model/push-context';
import { partiallyAppliedPolicies } from './rbac-report';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  selector: {app: db}
  ports: [{name: tcp-db, port: 5432, targetPort: 5432}, {name: http-admin, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: default, labels: {app: db}}
spec: {containers: [{name: db, image: db}]}
status: {podIP: 10.244.0.40, phase: Running}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-writes, namespace: default}
spec:
  selector: {matchLabels: {app: db}}
  action: DENY
  rules: [{from: [{source: {notNamespaces: [default]}}], to: [{operation: {methods: [POST]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-ns, namespace: default}
spec:
  selector: {matchLabels: {app: db}}
  rules: [{from: [{source: {namespaces: [default]}}]}]
`;

describe('policies that cannot apply in full where they land', () => {
  it('warns, naming the workload, the TCP port and the part ignored, only for policies with HTTP-only parts', () => {
    const v = validateConfig(parseConfigYaml(yaml, 'p.yaml').resources);
    expect(v.issues.filter((i) => i.severity === 'error')).toEqual([]);
    const issues = partiallyAppliedPolicies(new PushContext(v.accepted, 't')).map(formatIssue);
    expect(issues).toEqual([
      expect.stringMatching(/^warning: p\.yaml:\d+: AuthorizationPolicy default\/deny-writes: spec\.rules: on TCP ports \(default\/db-0 port 5432\) HTTP-only parts cannot apply: .*methods applies to HTTP only \(ignored: the DENY rule matches more\)/),
    ]);
  });

  it('a gateway counts its TCP and TLS passthrough servers, not its Service ports', () => {
    const gw = `apiVersion: v1
kind: Pod
metadata: {name: gw-0, namespace: istio-system, labels: {istio: ingressgateway}}
spec: {containers: [{name: istio-proxy, image: proxy}]}
status: {podIP: 10.244.0.2, phase: Running}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-version, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules: [{to: [{operation: {paths: [/api/version]}}]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]
`;
    const passthrough = `---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-tls, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: tls, protocol: TLS}
      tls: {mode: PASSTHROUGH}
      hosts: ["*.example.com"]
`;
    const run = (text: string) => partiallyAppliedPolicies(new PushContext(validateConfig(parseConfigYaml(text, 'g.yaml').resources).accepted, 't')).map(formatIssue);
    expect(run(gw)).toEqual([]);
    expect(run(gw + passthrough)).toEqual([expect.stringMatching(/AuthorizationPolicy istio-system\/deny-version: spec\.rules: on TCP ports \(istio-system\/gw-0 port 443\).*paths applies to HTTP only/)]);
  });
});
