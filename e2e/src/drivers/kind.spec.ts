// The kind driver's parts that need no cluster: what it sends to `kubectl apply`, the e2e cluster's
// kind config, and the prerequisite checks (with stand-in kind/kubectl/docker CLIs on PATH).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { applyPayload, e2eClusterConfig, KindDriver, renderKustomization, versionAtLeast } from './kind';

const root = resolve(import.meta.dirname, '../../..');

/** Every path in a JSON value, e.g. `spec.versions.0.schema.openAPIV3Schema.properties.status.x-kubernetes-preserve-unknown-fields`. */
function paths(v: unknown, at = '', out: string[] = []): string[] {
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, at ? `${at}.${k}` : k, out);
  else out.push(`${at}=${JSON.stringify(v)}`);
  return out;
}

describe('CRDs applied unchanged', () => {
  const crds = renderKustomization(join(root, 'infra/k8s/base/crds')).filter((o) => o.kind === 'CustomResourceDefinition');

  it('the apply payload holds every field of every CRD schema, enum and x-kubernetes-preserve-unknown-fields included', () => {
    expect(crds.length).toBeGreaterThan(5);
    const sent = parseAllDocuments(applyPayload(crds)).map((d) => d.toJS());
    expect(sent.length).toBe(crds.length);
    for (let i = 0; i < crds.length; i++) {
      const lost = paths(crds[i]).filter((p) => !new Set(paths(sent[i])).has(p));
      expect(lost, `${(crds[i].metadata as { name: string }).name}`).toEqual([]);
    }
    const all = paths(crds).join('\n');
    expect(all).toMatch(/\.enum\.0=/);
    expect(all).toMatch(/x-kubernetes-preserve-unknown-fields=true/);
  });

  it("(why) @kubernetes/client-node's typed model drops them: what KubernetesObjectApi would send", () => {
    const lost = crds.flatMap((c) => {
      const typed = new Set(paths(JSON.parse(JSON.stringify(ObjectSerializer.serialize(c, 'V1CustomResourceDefinition')))));
      return paths(c).filter((p) => !typed.has(p));
    });
    expect(lost.some((p) => /\.enum\.\d+=/.test(p))).toBe(true);
    expect(lost.some((p) => /properties\.status\.x-kubernetes-preserve-unknown-fields=true/.test(p))).toBe(true);
  });
});

describe('the e2e cluster config', () => {
  it("is infra/kind/cluster.yaml with the cluster's own name and loopback host ports, so it runs beside the demo's cluster", () => {
    const base = readFileSync(join(root, 'infra/kind/cluster.yaml'), 'utf8');
    const cfg = parse(e2eClusterConfig(base, 'tsmesh-e2e', { http: 18080, https: 18443 })) as { name: string; nodes: { image: string; extraPortMappings: { containerPort: number; hostPort: number; listenAddress: string }[] }[] };
    expect(cfg.name).toBe('tsmesh-e2e');
    expect(cfg.nodes[0].extraPortMappings).toEqual([
      { containerPort: 30080, hostPort: 18080, listenAddress: '127.0.0.1', protocol: 'TCP' },
      { containerPort: 30443, hostPort: 18443, listenAddress: '127.0.0.1', protocol: 'TCP' },
    ]);
    expect(cfg.nodes[0].image).toMatch(/^kindest\/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
  });

  it('compares kind versions', () => {
    expect(versionAtLeast('0.25.0', '0.25.0')).toBe(true);
    expect(versionAtLeast('v0.31.1', '0.25.0')).toBe(true);
    expect(versionAtLeast('0.24.9', '0.25.0')).toBe(false);
    expect(versionAtLeast('1.0.0-alpha', '0.25.0')).toBe(true);
  });
});

describe('prerequisites (stand-in CLIs on PATH)', () => {
  const saved = process.env.PATH;
  const dirs: string[] = [];
  afterEach(() => {
    process.env.PATH = saved;
    dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  });
  const withTools = (tools: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'kind-prereq-'));
    dirs.push(dir);
    for (const [name, out] of Object.entries(tools)) {
      writeFileSync(join(dir, name), `#!/bin/sh\n${out}\n`);
      chmodSync(join(dir, name), 0o755);
    }
    process.env.PATH = dir;
  };

  it('names each missing or unfit prerequisite', async () => {
    const d = new KindDriver(root);
    withTools({});
    expect(await d.unavailable()).toMatch(/the kind CLI is not installed \(kind ≥ v0\.25\.0/);
    withTools({ kind: 'echo "kind v0.20.0 go1.20 linux/amd64"' });
    expect(await d.unavailable()).toMatch(/kind 0\.20\.0 is too old/);
    withTools({ kind: 'echo "kind v0.25.0 go1.22 linux/amd64"' });
    expect(await d.unavailable()).toMatch(/kubectl is not installed/);
    withTools({ kind: 'echo "kind v0.25.0"', kubectl: 'echo "{}"', docker: 'exit 1' });
    expect(await d.unavailable()).toMatch(/no Docker engine is running/);
    withTools({ kind: 'echo "kind v0.25.0"', kubectl: 'echo "{}"', docker: 'echo 27.0.0' });
    expect(await d.unavailable()).toBeNull();
  });
});
