/**
 * Golden tests: YAML in (testdata/golden/base.yaml + one case file) → Envoy JSON out
 * (testdata/golden/<case>.<proxy>.json). Regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLIENT_FEATURE_VHDS, formatNodeId, TypeUrl } from '@tsmesh/xds';
import { parseConfigYaml, validateConfig, formatIssue } from '@tsmesh/mesh-config';
import { PushContext } from '../model/push-context';
import { completeProxy, proxyFromNode } from '../model/proxy';
import { generate } from './generate';
import { dumpResources } from './envoy-json';

const dir = fileURLToPath(new URL('../../testdata/golden/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

function pushFor(caseFile: string): PushContext {
  const resources = ['base.yaml', caseFile].flatMap((f) => {
    const p = parseConfigYaml(readFileSync(dir + f, 'utf8'), f);
    expect(p.issues.map(formatIssue)).toEqual([]);
    return p.resources;
  });
  const v = validateConfig(resources);
  expect(v.issues.filter((i) => i.severity === 'error').map(formatIssue)).toEqual([]);
  return new PushContext(v.accepted, 'golden');
}

const SIDECAR = (pod: string, ip: string) => ({ id: formatNodeId({ type: 'sidecar', ip, podName: pod, namespace: 'default' }) });
/** A tsmesh sidecar declaring VHDS (`Node.client_features`). */
const SIDECAR_VHDS = (pod: string, ip: string) => ({ ...SIDECAR(pod, ip), client_features: [CLIENT_FEATURE_VHDS] });
const GATEWAY = { id: formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' }) };
const GRPC = { id: 'sidecar~10.244.0.50~grpc-client-0.default~default.svc.cluster.local', metadata: { fields: { GENERATOR: { kind: 'stringValue', stringValue: 'grpc' } } } };

const CASES: { file: string; proxy: string; node: { id: string; metadata?: unknown } }[] = [
  { file: 'todolist-canary.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'gateway-api-canary.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'gateway-api-tls.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'gateway-api-routes.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'gateway-api-mesh.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
  { file: 'todolist-canary.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
  { file: 'callme-split-fault.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
  { file: 'gateway-tls-simple.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'peer-auth-strict.yaml', proxy: 'callme', node: SIDECAR('callme-service-v1-0', '10.244.0.20') },
  { file: 'authz-policy.yaml', proxy: 'callme', node: SIDECAR('callme-service-v1-0', '10.244.0.20') },
  { file: 'grpc-proxyless.yaml', proxy: 'grpc', node: GRPC },
  { file: 'ingress.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'request-authn.yaml', proxy: 'callme', node: SIDECAR('callme-service-v1-0', '10.244.0.20') },
  { file: 'gateway-authz.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'gateways-shared-port.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'egress-tls-origination.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
  { file: 'grpc-dns-serviceentry.yaml', proxy: 'grpc', node: GRPC },
  { file: 'egress-https-serviceentry.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
  { file: 'delegate-virtualservice.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
  { file: 'jwt-claim-routing.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'headless-statefulset.yaml', proxy: 'caller', node: SIDECAR('caller-service-0', '10.244.0.30') },
];

/** The sidecar cases again for a client taking VHDS (`<case>.caller-vhds.json`): the proxy's tests compare their routing with the full-RDS files. */
export const VHDS_CASES = ['todolist-canary.yaml', 'callme-split-fault.yaml', 'delegate-virtualservice.yaml', 'gateway-api-mesh.yaml', 'headless-statefulset.yaml', 'egress-https-serviceentry.yaml'];
CASES.push(...VHDS_CASES.map((file) => ({ file, proxy: 'caller-vhds', node: SIDECAR_VHDS('caller-service-0', '10.244.0.30') })));

describe('translation golden files', () => {
  for (const c of CASES) {
    const out = `${c.file.replace(/\.yaml$/, '')}.${c.proxy}.json`;
    it(`${c.file} for ${c.proxy} → ${out}`, () => {
      const push = pushFor(c.file);
      const proxy = completeProxy(proxyFromNode(c.node as never), push);
      const g = generate(push, proxy);
      const json = `${JSON.stringify(dumpResources(g.resources), null, 2)}\n`;
      if (update || !existsSync(dir + out)) writeFileSync(dir + out, json);
      expect(json).toBe(readFileSync(dir + out, 'utf8'));
    });
  }
});

describe('VHDS generation', () => {
  for (const file of VHDS_CASES) {
    it(`${file}: a VHDS client's route tables carry vhds, and their virtual hosts are exactly the full tables' ones`, () => {
      const push = pushFor(file);
      const full = generate(push, completeProxy(proxyFromNode(SIDECAR('caller-service-0', '10.244.0.30') as never), push));
      const vhds = generate(push, completeProxy(proxyFromNode(SIDECAR_VHDS('caller-service-0', '10.244.0.30') as never), push));
      const f = dumpResources(full.resources) as Record<string, { name: string; virtual_hosts?: { name: string }[]; vhds?: unknown }[]>;
      const v = dumpResources(vhds.resources) as Record<string, { name: string; virtual_hosts?: unknown[]; vhds?: unknown }[]>;
      for (const t of ['CDS', 'EDS', 'LDS']) expect(v[t]).toEqual(f[t]);
      expect(f.VHDS).toBeUndefined();
      expect(v.RDS.map((r) => r.name)).toEqual(f.RDS.map((r) => r.name));
      const hosts = new Map((v.VHDS as { name: string }[]).map((h, i) => [vhds.resources[TypeUrl.VirtualHost].map((r) => r.name).sort()[i], h]));
      for (const rc of f.RDS) {
        const split = v.RDS.find((r) => r.name === rc.name)!;
        expect(split.virtual_hosts).toBeUndefined();
        expect(split.vhds).toEqual({ config_source: { ads: {}, resource_api_version: 'V3' } });
        const { virtual_hosts, ...header } = rc;
        const { vhds: _vhds, ...splitHeader } = split;
        expect(splitHeader).toEqual(header);
        const mine = [...hosts].filter(([n]) => n.slice(0, n.lastIndexOf('/')) === rc.name);
        expect(mine.map(([n]) => n).sort()).toEqual(virtual_hosts!.map((h) => `${rc.name}/${h.name}`).sort());
        for (const [n, h] of mine) expect(h).toEqual({ '@type': TypeUrl.VirtualHost, ...virtual_hosts!.find((x) => `${rc.name}/${x.name}` === n) });
      }
    });
  }

  it('gRPC clients and gateways keep full RDS whatever they declare', () => {
    const push = pushFor('todolist-canary.yaml');
    for (const node of [{ ...GRPC, client_features: [CLIENT_FEATURE_VHDS] }, { ...GATEWAY, client_features: [CLIENT_FEATURE_VHDS] }]) {
      const g = generate(push, completeProxy(proxyFromNode(node as never), push));
      expect(g.resources[TypeUrl.VirtualHost]).toEqual([]);
    }
  });
});
