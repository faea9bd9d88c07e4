// The module-boundary lint rule, run through ESLint with the workspace's own config.
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const eslint = new ESLint({ cwd: root });

async function lint(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return r.messages.filter((m) => m.ruleId === 'tsmesh/module-boundaries').map((m) => m.message);
}

describe('module boundaries', () => {
  it('an app importing another app by relative path is told to move the code into a lib', async () => {
    const msgs = await lint('apps/caller/src/probe.ts', "import { createApp } from '../../callme/src/app';\nexport const x = createApp;\n");
    expect(msgs).toEqual(['apps may not import apps; move it into a lib (apps/caller imports apps/callme)']);
  });

  it('the same for a dynamic import and a re-export', async () => {
    const msgs = await lint('apps/cli/src/probe.ts', "export * from '../../proxy/src/main';\nexport const p = () => import('../../ca/src/main');\n");
    expect(msgs).toEqual([
      'apps may not import apps; move it into a lib (apps/cli imports apps/proxy)',
      'apps may not import apps; move it into a lib (apps/cli imports apps/ca)',
    ]);
  });

  it('an app importing a lib by its alias, and a file of its own app, is fine', async () => {
    expect(await lint('apps/caller/src/probe.ts', "import { TypeUrl } from '@tsmesh/xds';\nimport { createApp } from './app';\nexport const x = [TypeUrl, createApp];\n")).toEqual([]);
  });

  it('a lib reaching into a lib by relative path keeps Nx\'s own message', async () => {
    const msgs = await lint('libs/xds/src/probe.ts', "import { x } from '../../certs/src/index';\nexport const y = x;\n");
    expect(msgs).toEqual(['Projects cannot be imported by a relative or absolute path, and must begin with a npm scope']);
  });
});
