// The Nx project graph: e2e depends on every project it runs, so `nx affected` picks it up.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { IMAGES, imageName } from '@tsmesh/local-runtime';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const nx = join(root, 'node_modules/.bin/nx');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(f) ? [p] : [];
  });
}

/** The apps the e2e mesh runs: every image in infra/k8s/base, mapped to its `dist/apps/<app>` entrypoint. */
function appsE2eRuns(): string[] {
  const images = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'image' && typeof x === 'string') images.add(imageName(x));
        else walk(x);
      }
    }
  };
  for (const f of yamlFiles(join(root, 'infra/k8s/base'))) for (const d of parseAllDocuments(readFileSync(f, 'utf8'))) walk(d.toJS());
  const apps = [...images].map((i) => {
    const entry = IMAGES[i];
    if (!entry) throw new Error(`image ${i} has no local entrypoint`);
    const m = entry.entrypoint.join(' ').match(/dist\/apps\/([^/]+)\//);
    if (!m) throw new Error(`image ${i}: entrypoint ${entry.entrypoint.join(' ')} runs no app bundle`);
    return m[1];
  });
  return [...new Set(apps)].sort();
}

describe('project graph', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-graph-'));
  execFileSync(nx, ['graph', `--file=${join(dir, 'graph.json')}`], { cwd: root, env, stdio: 'pipe' });
  const graph = JSON.parse(readFileSync(join(dir, 'graph.json'), 'utf8')) as { graph: { dependencies: Record<string, { target: string; type: string }[]> } };
  const e2eDeps = new Set(graph.graph.dependencies.e2e.map((d) => d.target));

  it('e2e depends on every app its mesh runs, the local runtime and the manifests', () => {
    const apps = appsE2eRuns();
    expect(apps).toEqual(expect.arrayContaining(['ca', 'callme', 'caller', 'control-plane', 'injector', 'proxy', 'todolist']));
    for (const p of [...apps, 'local-runtime', 'infra']) expect(e2eDeps, `e2e → ${p}`).toContain(p);
  });

  it('e2e depends on every project whose build its test target needs', () => {
    const project = JSON.parse(readFileSync(join(root, 'e2e/project.json'), 'utf8')) as { targets: { test: { dependsOn: { projects?: string[] }[] } } };
    const built = project.targets.test.dependsOn.flatMap((d) => d.projects ?? []);
    expect(built.length).toBeGreaterThan(0);
    for (const p of built) expect(e2eDeps, `e2e → ${p}`).toContain(p);
  });

  it('a change to a sample app makes e2e affected', () => {
    const out = execFileSync(nx, ['show', 'projects', '--affected', '--files=apps/callme/src/app.ts', '--json'], { cwd: root, env, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(expect.arrayContaining(['callme', 'e2e']));
  });
});
