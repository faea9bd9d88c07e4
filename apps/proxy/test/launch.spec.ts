/**
 * One set of V8/Node flags and environment for the proxy everywhere it is started: the image's
 * entrypoint, the local runtime's image table and the benchmarks all match apps/proxy/launch.json,
 * and nothing adds flags behind its back (NODE_OPTIONS in the injector's template or the images).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const read = (p: string) => readFileSync(resolve(root, p), 'utf8');
const launch = JSON.parse(read('apps/proxy/launch.json')) as { nodeFlags: string[]; env: Record<string, string> };

describe('proxy launch flags', () => {
  it('are V8/Node flags and environment variable names', () => {
    expect(launch.nodeFlags.length).toBeGreaterThan(0);
    for (const f of launch.nodeFlags) expect(f).toMatch(/^--[a-z0-9-]+(=\S+)?$/);
    for (const k of Object.keys(launch.env)) expect(k).toMatch(/^[A-Z_][A-Z0-9_]*$/);
  });

  it('the image runs the proxy with them', () => {
    const docker = read('infra/docker/Dockerfile');
    const stage = docker.slice(docker.indexOf('AS proxy'), docker.indexOf('FROM', docker.indexOf('AS proxy')));
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(stage);
    expect(entry, 'the proxy stage has an exec-form ENTRYPOINT').not.toBeNull();
    expect(JSON.parse(entry![1])).toEqual(['node', ...launch.nodeFlags, '/app/dist/apps/proxy/main.js']);
    for (const [k, v] of Object.entries(launch.env)) expect(stage).toMatch(new RegExp(`^ENV ${k}=${v}$`, 'm'));
    expect(docker).not.toContain('NODE_OPTIONS');
  });

  it('the local runtime runs the proxy image with them', () => {
    const line = read('infra/local/src/images.ts').split('\n').find((l) => l.includes("'tsmesh/proxy':"));
    expect(line).toBeDefined();
    const flags = [...line!.matchAll(/'(--[^']+)'/g)].map((m) => m[1]);
    expect(flags).toEqual(launch.nodeFlags);
    const env = /env: \{([^}]*)\}/.exec(line!);
    expect(Object.fromEntries([...(env?.[1] ?? '').matchAll(/(\w+): '([^']*)'/g)].map((m) => [m[1], m[2]]))).toEqual(launch.env);
  });

  it('the injected sidecar adds no Node flags of its own', () => {
    expect(read('apps/injector/src/inject/template.ts')).not.toContain('NODE_OPTIONS');
  });

  it('the benchmarks start the proxy with them by default', () => {
    for (const f of ['bench/proxy/bench.ts', 'bench/proxy/rss.ts', 'bench/proxy/grpc-pair.ts', 'bench/proxy/cost.ts']) {
      const src = read(f);
      expect(src, f).toContain("from './launch'");
      expect(src, f).not.toMatch(/'--max-semi-space-size|MALLOC_ARENA_MAX: '/);
    }
  });
});
