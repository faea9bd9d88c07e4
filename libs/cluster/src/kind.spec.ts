import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { applyPayload, clusterConfig, KindCli, kindUnavailable, runCli, StandInTools, versionAtLeast } from './index';

const root = resolve(import.meta.dirname, '../../..');

describe('@tsmesh/cluster', () => {
  const tools = new StandInTools();
  afterEach(() => tools.restore());
  const withTools = (t: Record<string, string>) => tools.use(t);

  it('names each missing or unfit kind prerequisite, for whoever asks', async () => {
    const kind = new KindCli('x');
    withTools({});
    expect(await kindUnavailable(kind, '--kind')).toMatch(/the kind CLI is not installed \(kind ≥ v0\.25\.0.*--kind needs kind, kubectl and a Docker engine/);
    withTools({ kind: 'echo "kind v0.20.0 go1.20 linux/amd64"' });
    expect(await kindUnavailable(kind, '--kind')).toMatch(/kind 0\.20\.0 is too old/);
    withTools({ kind: 'echo "kind v0.25.0"' });
    expect(await kindUnavailable(kind, 'the kind driver')).toMatch(/kubectl is not installed; the kind driver applies/);
    withTools({ kind: 'echo "kind v0.25.0"', kubectl: 'echo "{}"', docker: 'exit 1' });
    expect(await kindUnavailable(kind, '--kind')).toMatch(/no Docker engine is running/);
    withTools({ kind: 'echo "kind v0.25.0"', kubectl: 'echo "{}"', docker: 'echo 27.0.0' });
    expect(await kindUnavailable(kind, '--kind')).toBeNull();
  });

  it('runs a tool with stdin and names it with its stderr when it fails', async () => {
    withTools({ cat2: 'exec /bin/cat', fail: 'echo "bad flag" >&2; exit 3' });
    expect(await runCli('cat2', [], { input: 'hello' })).toBe('hello');
    await expect(runCli('fail', ['--x'])).rejects.toThrow('fail --x: bad flag');
    await expect(runCli('fail', ['--x'], { input: '' })).rejects.toThrow('fail --x: bad flag');
  });

  it('compares versions, derives a second cluster config, and sends raw YAML', () => {
    expect(versionAtLeast('v0.31.1', '0.25.0')).toBe(true);
    expect(versionAtLeast('0.24.9', '0.25.0')).toBe(false);
    const cfg = parse(clusterConfig(readFileSync(join(root, 'infra/kind/cluster.yaml'), 'utf8'), 'other', { http: 18080, https: 18443 }));
    expect(cfg.name).toBe('other');
    expect(cfg.nodes[0].extraPortMappings).toEqual(expect.arrayContaining([expect.objectContaining({ containerPort: 30080, hostPort: 18080, listenAddress: '127.0.0.1' })]));
    const objs = [{ kind: 'CustomResourceDefinition', spec: { x: { enum: ['A', 'B'], 'x-kubernetes-preserve-unknown-fields': true } } }, { kind: 'Namespace' }];
    expect(parseAllDocuments(applyPayload(objs)).map((d) => d.toJS())).toEqual(objs);
  });
});
