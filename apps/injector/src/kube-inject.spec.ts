import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { expectGolden } from '../test/golden';
import { podSchemaErrors } from '../test/k8s-schema';
import { buildCli } from './cli';
import { DEFAULT_CONFIG } from './inject/config';
import { kubeInject } from './kube-inject';

const dir = resolve(import.meta.dirname, '../testdata/kube-inject');
const inputs = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).sort();

/** The pod (or pod template) of an object, checked as a Pod. */
function podOf(obj: Record<string, unknown>): V1Pod | undefined {
  const k = obj.kind as string;
  const at = (path: string[]) => path.reduce<unknown>((o, key) => (o as Record<string, unknown>)?.[key], obj) as V1Pod;
  if (k === 'Pod') return obj as V1Pod;
  if (k === 'CronJob') return at(['spec', 'jobTemplate', 'spec', 'template']);
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].includes(k)) return at(['spec', 'template']);
  return undefined;
}

/** Every object, List items included. */
function objectsOf(obj: Record<string, unknown>): Record<string, unknown>[] {
  return obj.kind === 'List' ? (obj.items as Record<string, unknown>[]).flatMap(objectsOf) : [obj];
}

describe('kube-inject', () => {
  for (const input of inputs) {
    it(`${input} matches its golden file and every pod validates`, () => {
      const { yaml, report } = kubeInject(readFileSync(join(dir, input), 'utf8'), DEFAULT_CONFIG, input);
      expectGolden(join(dir, input.replace('.in.yaml', '.golden.yaml')), yaml);
      for (const doc of parseAllDocuments(yaml) as ReturnType<typeof parseAllDocuments> & unknown[]) {
        for (const obj of objectsOf(doc.toJS())) {
          const pod = podOf(obj);
          if (pod) expect(podSchemaErrors({ apiVersion: 'v1', kind: 'Pod', ...pod }), JSON.stringify(obj.metadata)).toEqual([]);
        }
      }
      // Injecting the output again changes nothing.
      expect(kubeInject(yaml, DEFAULT_CONFIG).yaml).toBe(yaml);
      expect(report.length).toBeGreaterThan(0);
    });
  }

  it('reports what it did and skipped', () => {
    const { report } = kubeInject(readFileSync(join(dir, 'workloads.in.yaml'), 'utf8'), DEFAULT_CONFIG);
    expect(report).toEqual([
      { resource: 'StatefulSet default/cache', injected: true, reason: 'injected' },
      { resource: 'Job default/seed', injected: true, reason: 'injected' },
      { resource: 'CronJob default/report', injected: true, reason: 'injected' },
      { resource: 'Pod default/sleep', injected: true, reason: 'injected' },
      { resource: 'DaemonSet default/node-agent', injected: false, reason: 'pod uses hostNetwork' },
      { resource: 'Deployment default/legacy', injected: false, reason: 'sidecar.istio.io/inject is "false"' },
      { resource: 'ReplicaSet jobs/worker', injected: true, reason: 'injected' },
    ]);
  });

  it('names the document and line of invalid YAML', () => {
    expect(() => kubeInject('apiVersion: v1\nkind: Pod\n---\nkind: [unclosed\n', DEFAULT_CONFIG, 'bad.yaml')).toThrow(
      /^bad\.yaml document 2 \(line \d+, column \d+\): invalid YAML: /,
    );
    expect(() => kubeInject('- just\n- a list\n', DEFAULT_CONFIG, 'list.yaml')).toThrow('list.yaml document 1: document is not a Kubernetes object');
    expect(() => kubeInject('kind: Deployment\napiVersion: apps/v1\nmetadata: {name: x}\nspec: {}\n', DEFAULT_CONFIG, 'd.yaml')).toThrow(
      'd.yaml document 1: Deployment default/x: spec.template is required',
    );
    expect(() => kubeInject('kind: Pod\napiVersion: v1\nmetadata: {name: p, annotations: {traffic.sidecar.istio.io/includeInboundPorts: "http"}}\nspec: {containers: [{name: a, image: b}]}\n', DEFAULT_CONFIG)).toThrow(
      'Pod default/p: metadata.annotations[traffic.sidecar.istio.io/includeInboundPorts]: "http" is not a port number (1-65535)',
    );
  });

  it('runs as `injector kube-inject -f in.yaml -o out.yaml` with template flags', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kube-inject-'));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await buildCli().parseAsync(['node', 'injector', 'kube-inject', '-f', join(dir, 'deployment-and-service.in.yaml'), '-o', join(out, 'out.yaml'), '--proxy-image', 'registry.local/proxy:1.0', '--native-sidecars', 'false']);
      const text = readFileSync(join(out, 'out.yaml'), 'utf8');
      const deployment = parseAllDocuments(text)[1].toJS();
      const containers = deployment.spec.template.spec.containers as { name: string; image: string }[];
      expect(containers.map((c) => c.name)).toEqual(['todolist', 'istio-proxy']);
      expect(containers[1].image).toBe('registry.local/proxy:1.0');
      expect(stderr).toHaveBeenCalledWith('Deployment samples/todolist-v1: injected\n');
    } finally {
      stderr.mockRestore();
      rmSync(out, { recursive: true, force: true });
    }
  });
});
