import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigYaml } from '../yaml';
import { validateConfig } from './validate';
import { formatIssue } from '../issues';
import { apiKindOf, KINDS } from '../kinds';

const testdata = (f: string) => fileURLToPath(new URL(`../../testdata/gateway-api/${f}`, import.meta.url));
const parse = (f: string) => parseConfigYaml(readFileSync(testdata(f), 'utf8'), f);

describe('Gateway API resources', () => {
  it('reads GatewayClass, Gateway, HTTPRoute (v1 and v1beta1) and ReferenceGrant, keeping Istio Gateway distinct', () => {
    const parsed = parse('valid.yaml');
    expect(parsed.issues).toEqual([]);
    expect(parsed.resources.map((r) => r.key)).toEqual([
      'GatewayClass//istio', 'KubernetesGateway/istio-system/todolist', 'HTTPRoute/default/todolist',
      'HTTPRoute/default/callme-split', 'ReferenceGrant/default/gateway-to-certs',
    ]);
    expect(apiKindOf('KubernetesGateway')).toBe('Gateway');
    expect(KINDS.Gateway.group).toBe('networking.istio.io');
    const r = validateConfig(parsed.resources);
    expect(r.issues.map(formatIssue)).toEqual([]);
    expect(r.accepted).toHaveLength(5);
  });

  it('rejects each invalid resource with the field and reason, from the published schema and the CRD rules', () => {
    const parsed = parse('invalid.yaml');
    const r = validateConfig(parsed.resources);
    expect([...parsed.issues, ...r.issues].map(formatIssue)).toEqual([
      'invalid.yaml:39: HTTPRoute default/too-old: apiVersion: version "v1alpha1" is not accepted (accepted: v1, v1beta1)',
      'invalid.yaml:11: KubernetesGateway default/bad-listeners: spec.listeners[1].name: listener name "web" is also used by spec.listeners[0]; listener names must be unique',
      'invalid.yaml:11: KubernetesGateway default/bad-listeners: spec.listeners[1].tls: tls is required for protocol HTTPS',
      'invalid.yaml:23: HTTPRoute default/bad-route: spec.rules[0].matches[0].path.value: "api" must be an absolute path (start with "/")',
      'invalid.yaml:24: HTTPRoute default/bad-route: spec.rules[0].matches[1].path.value: "/(a" is not a valid RE2 regular expression: error parsing regexp: missing closing ): `/(a`',
      'invalid.yaml:25: HTTPRoute default/bad-route: spec.rules[0].filters: RequestRedirect and URLRewrite cannot both be set on one rule',
      'invalid.yaml:30: HTTPRoute default/bad-route: spec.rules[0].backendRefs: a rule with a RequestRedirect filter must not have backendRefs',
      'invalid.yaml:31: HTTPRoute default/bad-route: spec.rules[0].backendRefs[0].weight: -1 must be >= 0',
      'invalid.yaml:37: GatewayClass no-controller: spec.controllerName: controllerName is required',
    ]);
    expect(parsed.ignored).toEqual(['KubernetesGateway internal-name']);
    expect(r.accepted).toEqual([]);
  });
});
