// Doc checks on the app READMEs: a newcomer can run each app from its README alone.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const apps = readdirSync(join(root, 'apps')).filter((a) => existsSync(join(root, 'apps', a, 'README.md')));

function sources(dir: string): string {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8')).join('\n');
}

describe('app READMEs', () => {
  it.each(apps)('%s: says to build the bundle before running dist/apps/<app>/main.js', (app) => {
    const readme = readFileSync(join(root, 'apps', app, 'README.md'), 'utf8');
    if (!readme.includes(`dist/apps/${app}/main.js`)) return;
    expect(readme, `apps/${app}/README.md runs dist/apps/${app}/main.js but never builds it`).toMatch(new RegExp(`nx (build ${app}|run ${app}:build)|tools/build\\.mjs apps/${app}`));
  });

  it.each(apps)('%s: says what /healthz answers, when the app serves it', (app) => {
    if (!/['"]\/healthz['"]/.test(sources(join(root, 'apps', app, 'src')))) return;
    const lines = readFileSync(join(root, 'apps', app, 'README.md'), 'utf8').split('\n');
    const at = lines.flatMap((l, i) => (l.includes('/healthz') ? [i] : []));
    expect(at.length, `apps/${app}/README.md does not mention /healthz`).toBeGreaterThan(0);
    // the status and body, on the line or the next one
    const said = at.some((i) => /\b200\b.*(`[^`]+`|empty)/.test(lines.slice(i, i + 2).join(' ')));
    expect(said, `apps/${app}/README.md: what does /healthz answer?`).toBe(true);
  });

  it('at least the sample apps are checked', () => {
    expect(apps).toEqual(expect.arrayContaining(['callme', 'caller', 'todolist']));
  });
});

describe('apps/proxy/README.md: the "Adding an HTTP filter" checklist', () => {
  const text = readFileSync(join(root, 'apps/proxy/README.md'), 'utf8');
  const block = /<!-- new-http-filter -->([\s\S]*?)<!-- \/new-http-filter -->/.exec(text)?.[1] ?? '';
  const paths = [...new Set([...block.matchAll(/`((?:apps|libs|tools)\/[^`\s]+\.(?:ts|yaml))`/g)].map((m) => m[1]))];

  it('names the files to touch', () => {
    expect(paths).toEqual(expect.arrayContaining([
      'libs/xds/src/proto/registry.ts', 'libs/xds/src/type-urls.ts', 'libs/xds/src/envoy-json/capabilities.ts',
      'apps/proxy/src/filters/header-mutation.ts', 'apps/proxy/src/filters/register.ts',
    ]));
  });

  it.each(paths)('%s exists and holds the sample filter', (p) => {
    expect(existsSync(join(root, p)), `${p} does not exist`).toBe(true);
    if (['apps/proxy/src/agent/proxy.ts', 'apps/proxy/src/http/filters.ts', 'apps/proxy/src/config/errors.ts'].includes(p)) return;
    expect(readFileSync(join(root, p), 'utf8')).toMatch(/header_mutation|HeaderMutation|header-mutation/);
  });

  it('the proxy calls the register function', () => {
    expect(readFileSync(join(root, 'apps/proxy/src/agent/proxy.ts'), 'utf8')).toMatch(/registerHttpFilters\(\)/);
  });
});
