import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigYaml } from './yaml';
import { fieldLine } from './resource';

const testdata = (f: string) => fileURLToPath(new URL(`../testdata/${f}`, import.meta.url));

describe('parseConfigYaml', () => {
  it('reads every known document with its line, defaults the namespace and ignores other kinds', () => {
    const file = testdata('valid.yaml');
    const r = parseConfigYaml(readFileSync(file, 'utf8'), file);
    expect(r.issues).toEqual([]);
    expect(r.resources.map((x) => [x.key, x.source.line])).toEqual([
      ['Service/default/callme-service', 1],
      ['DestinationRule/default/callme-service-destination', 13],
      ['VirtualService/default/callme-service-route', 27],
    ]);
    expect(r.ignored).toEqual(['Deployment callme-service-v1']);
    const vs = r.resources[2];
    expect(fieldLine(vs, 'spec.http[0].route[1].weight')).toBe(43);
    expect(fieldLine(vs, 'spec.http[0].route[1].nothing')).toBe(40);
  });

  it('reports syntax errors with their line and keeps the other documents', () => {
    const text = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [unclosed\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n';
    const r = parseConfigYaml(text, 'x.yaml');
    expect(r.resources.map((x) => x.key)).toEqual(['Namespace//a', 'Namespace//b']);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ file: 'x.yaml', code: 'YAML_SYNTAX' });
    expect(r.issues[0].line).toBeGreaterThanOrEqual(5);
  });

  it('names the resource, field and reason for bad envelopes', () => {
    const text = [
      'apiVersion: networking.istio.io/v2', 'kind: Gateway', 'metadata: {name: g}', 'spec: {}', '---',
      'apiVersion: networking.istio.io/v1', 'kind: Gateway', 'metadata: {namespace: x}', '---',
      'apiVersion: security.istio.io/v1', 'kind: Gateway', 'metadata: {name: g2}',
    ].join('\n');
    const r = parseConfigYaml(text, 'gw.yaml');
    expect(r.resources).toEqual([]);
    expect(r.issues.map((i) => [i.code, i.resource, i.field, i.line])).toEqual([
      ['DOC_UNSUPPORTED_VERSION', 'Gateway default/g', 'apiVersion', 1],
      ['DOC_NO_NAME', 'Gateway', 'metadata.name', 8],
      ['DOC_WRONG_GROUP', 'Gateway default/g2', 'apiVersion', 10],
    ]);
  });

  it('unwraps List documents', () => {
    const text = 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: a}\n';
    const r = parseConfigYaml(text, 'l.yaml');
    expect(r.resources.map((x) => [x.key, x.source.line])).toEqual([['Namespace//a', 4]]);
  });
});
