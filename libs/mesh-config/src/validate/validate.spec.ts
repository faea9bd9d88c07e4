import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfigYaml } from '../yaml';
import { validateConfig } from './validate';
import { formatIssue } from '../issues';

const testdata = (f: string) => fileURLToPath(new URL(`../../testdata/${f}`, import.meta.url));
const load = (...files: string[]) => files.flatMap((f) => parseConfigYaml(readFileSync(testdata(f), 'utf8'), f).resources);

describe('validateConfig', () => {
  it('accepts a consistent config set', () => {
    const r = validateConfig(load('valid.yaml'));
    expect(r.issues).toEqual([]);
    expect(r.accepted).toHaveLength(3);
  });

  it('rejects each invalid resource with file, line, resource, field and reason, and keeps the rest', () => {
    const parsed = parseConfigYaml(readFileSync(testdata('invalid.yaml'), 'utf8'), 'invalid.yaml');
    const r = validateConfig([...load('valid.yaml'), ...parsed.resources]);
    const lines = [...parsed.issues, ...r.issues].map(formatIssue);
    expect(lines).toEqual([
      'invalid.yaml:69: DestinationRule default/future: apiVersion: version "v2" is not accepted (accepted: v1, v1beta1, v1alpha3)',
      'invalid.yaml:8: VirtualService default/bad-weights: spec.http[0].route: total destination weight is 0: at least one destination needs a weight',
      'invalid.yaml:23: VirtualService default/unknown-field: spec.http[0].timout: unknown field "timout" (did you mean "timeout"?)',
      'invalid.yaml:66: Gateway default/tls-no-cred: spec.servers[0].tls: TLS mode SIMPLE needs credentialName, serverCertificate and privateKey, or tlsCertificates',
      'warning: invalid.yaml:55: Gateway default/gw-b: spec.servers[0].hosts[0]: port 80 host "shop.example.com" is also served by Gateway default/gw-a (invalid.yaml) on the same workloads (istio=ingressgateway); their routes are merged into one route table',
      'warning: invalid.yaml:33: VirtualService default/no-such-host: spec.http[0].route[0].destination.host: no Service or ServiceEntry has host "nowhere.default.svc.cluster.local"',
    ]);
    expect(r.accepted.map((x) => x.name)).toEqual(['callme-service', 'callme-service-destination', 'callme-service-route', 'no-such-host', 'gw-a', 'gw-b']);
  });

  it('reports a subset no DestinationRule defines and keeps the VirtualService, as Istio programs it', () => {
    const text = readFileSync(testdata('valid.yaml'), 'utf8').replace('subset: v2', 'subset: v9');
    const r = validateConfig(parseConfigYaml(text, 'v.yaml').resources);
    expect(r.issues.map(formatIssue)).toEqual([
      'warning: v.yaml:38: VirtualService default/callme-service-route: spec.http[0].route[0].destination.subset: no DestinationRule for "callme-service.default.svc.cluster.local" defines subset "v9"',
    ]);
    expect(r.rejected.has('VirtualService/default/callme-service-route')).toBe(false);
  });

  it('rejects a duplicate resource and names where the first one is', () => {
    const a = load('valid.yaml');
    const r = validateConfig([...a, ...parseConfigYaml(readFileSync(testdata('valid.yaml'), 'utf8'), 'copy.yaml').resources]);
    expect(r.issues.filter((i) => i.code === 'DUPLICATE_RESOURCE')).toHaveLength(3);
    expect(r.accepted).toHaveLength(3);
  });

  it('checks types, enums, durations and ranges', () => {
    const text = [
      'apiVersion: networking.istio.io/v1', 'kind: DestinationRule', 'metadata: {name: d}', 'spec:', '  host: x',
      '  trafficPolicy:', '    loadBalancer: {simple: FASTEST}', '    outlierDetection: {interval: soon, maxEjectionPercent: 150}',
      '    connectionPool: {tcp: {maxConnections: "many"}}',
    ].join('\n');
    const r = validateConfig(parseConfigYaml(text, 'd.yaml').resources);
    expect(r.issues.map((i) => [i.field, i.code, i.line]).sort()).toEqual([
      ['spec.trafficPolicy.connectionPool.tcp.maxConnections', 'SCHEMA_TYPE', 9],
      ['spec.trafficPolicy.loadBalancer.simple', 'SCHEMA_ENUM', 7],
      ['spec.trafficPolicy.outlierDetection.interval', 'SCHEMA_FORMAT', 8],
      ['spec.trafficPolicy.outlierDetection.maxEjectionPercent', 'SCHEMA_RANGE', 8],
    ]);
  });
});
