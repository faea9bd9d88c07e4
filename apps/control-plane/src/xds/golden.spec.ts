/**
 * Golden tests: YAML in (testdata/golden/base.yaml + one case file) → Envoy JSON out
 * (testdata/golden/<case>.<proxy>.json). Regenerate with UPDATE_GOLDEN=1 and review the diff.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatNodeId } from '@tsmesh/xds';
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
const GATEWAY = { id: formatNodeId({ type: 'router', ip: '10.244.0.2', podName: 'istio-ingressgateway-0', namespace: 'istio-system' }) };
const GRPC = { id: 'sidecar~10.244.0.50~grpc-client-0.default~default.svc.cluster.local', metadata: { fields: { GENERATOR: { kind: 'stringValue', stringValue: 'grpc' } } } };

const CASES: { file: string; proxy: string; node: { id: string; metadata?: unknown } }[] = [
  { file: 'todolist-canary.yaml', proxy: 'gateway', node: GATEWAY },
  { file: 'gateway-api-canary.yaml', proxy: 'gateway', node: GATEWAY },
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
