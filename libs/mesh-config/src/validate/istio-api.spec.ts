import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigYaml } from '../yaml';
import { validateConfig } from './validate';
import { formatIssue } from '../issues';
// @ts-expect-error plain ESM script without types
import { generate } from '../../scripts/gen-istio-fields.mjs';

const testdata = (f: string) => fileURLToPath(new URL(`../../testdata/istio-api/${f}`, import.meta.url));
const read = (f: string) => parseConfigYaml(readFileSync(testdata(f), 'utf8'), f, 'shop');

describe("Istio's published schema", () => {
  it('the committed field tree is the one generated from the installed @kubernetes-models/istio', () => {
    const committed = JSON.parse(readFileSync(fileURLToPath(new URL('../schema/istio-fields.gen.json', import.meta.url)), 'utf8'));
    expect(committed).toEqual(generate());
  });

  it('accepts the valid v1 fields, relative weights 1/1, and unquoted IPv6 addresses', () => {
    const p = read('v1-fields.yaml');
    expect(p.issues).toEqual([]);
    const r = validateConfig(p.resources);
    expect(r.issues.filter((i) => i.severity === 'error').map(formatIssue)).toEqual([]);
    expect(r.accepted.map((x) => x.kind)).toEqual(['AuthorizationPolicy', 'RequestAuthentication', 'DestinationRule', 'VirtualService', 'Gateway', 'ServiceEntry']);
    const se = p.resources.find((x) => x.kind === 'ServiceEntry')!.object as { spec: { addresses: string[] } };
    expect(se.spec.addresses).toEqual(['2001:db8::10', 'fd00::']);
  });

  it('rejects the form Istio rejects: DestinationRule workloadSelector.labels', () => {
    const text = readFileSync(testdata('v1-fields.yaml'), 'utf8').replace('    matchLabels: {app: productpage}', '    labels: {app: productpage}');
    const r = validateConfig(parseConfigYaml(text, 'v.yaml', 'shop').resources);
    expect(r.issues.filter((i) => i.severity === 'error').map((i) => [i.resource, i.field, i.code])).toEqual([['DestinationRule shop/reviews', 'spec.workloadSelector.labels', 'SCHEMA_UNKNOWN_FIELD']]);
  });

  for (const file of ['serviceentry-invalid.yaml', 'requestauthentication-invalid.yaml']) {
    it(`refuses every case of ${file}, naming the field`, () => {
      const text = readFileSync(testdata(file), 'utf8');
      const expected = [...text.matchAll(/# expect: (\S+)/g)].map((m) => m[1]);
      const p = parseConfigYaml(text, file, 'shop');
      const r = validateConfig(p.resources);
      expect(p.resources).toHaveLength(expected.length);
      p.resources.forEach((res, i) => {
        const fields = r.issues.filter((x) => x.resource.endsWith(`/${res.name}`) && x.severity === 'error').map((x) => x.field);
        expect({ name: res.name, fields }).toEqual({ name: res.name, fields: expect.arrayContaining([expected[i]]) });
        expect(r.rejected.has(res.key)).toBe(true);
      });
    });
  }
});

describe('Istio semantic rules', () => {
  const vs = (http: string) => parseConfigYaml(['apiVersion: networking.istio.io/v1', 'kind: VirtualService', 'metadata: {name: r}', 'spec:', ...http.split('\n')].join('\n'), 'r.yaml').resources;

  it('refuses only all-zero weights across several destinations', () => {
    const zero = validateConfig(vs('  hosts: [a]\n  http:\n  - route:\n    - {destination: {host: a}, weight: 0}\n    - {destination: {host: b}, weight: 0}'));
    expect(zero.issues.map((i) => i.code)).toContain('VS_WEIGHT_SUM');
    const one = validateConfig(vs('  hosts: [a]\n  http:\n  - route:\n    - {destination: {host: a}, weight: 0}'));
    expect(one.issues.filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('keeps a VirtualService routing to an unknown host or subset, with a warning', () => {
    const r = validateConfig(vs('  hosts: [a]\n  http:\n  - route:\n    - {destination: {host: nowhere, subset: v9}}'));
    expect(r.accepted).toHaveLength(1);
    expect(r.issues.map((i) => [i.code, i.severity])).toEqual([['VS_UNKNOWN_HOST', 'warning']]);
  });

  it('reads a VirtualService with no hosts as a delegate, and applies the delegate rules', () => {
    expect(validateConfig(vs('  http:\n  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: a}}]')).issues.filter((i) => i.severity === 'error')).toEqual([]);
    const bad = validateConfig(vs('  gateways: [gw]\n  http:\n  - delegate: {name: other}'));
    expect(bad.issues.filter((i) => i.severity === 'error').map((i) => i.field)).toEqual(['spec.gateways', 'spec.http[0].delegate']);
  });

  it('checks regexes with RE2, not JavaScript: a lookahead is refused, as Envoy and gRPC refuse it', () => {
    const r = validateConfig(vs('  hosts: [a]\n  http:\n  - match: [{uri: {regex: "/x/(?!Nope).*"}}, {headers: {x-v: {regex: "a{1001}"}}}, {uri: {regex: "/ok/[0-9]+"}}]\n    route: [{destination: {host: a}}]'));
    expect(r.issues.filter((i) => i.code === 'VS_BAD_REGEX').map((i) => i.field)).toEqual(['spec.http[0].match[0].uri.regex', 'spec.http[0].match[1].headers.x-v.regex']);
    expect(r.issues.find((i) => i.code === 'VS_BAD_REGEX')!.reason).toContain('(?!');
  });
});
