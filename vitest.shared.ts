// Shared vitest settings: path aliases from tsconfig.base.json and a JSON report per project.
import { readFileSync } from 'node:fs';
import { resolve, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));
const tsconfig = JSON.parse(readFileSync(resolve(root, 'tsconfig.base.json'), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};

/** Aliases `@tsmesh/<lib>` to the lib's source entry, as tsconfig.base.json does. */
export const aliases: Record<string, string> = Object.fromEntries(
  Object.entries(tsconfig.compilerOptions.paths)
    // longest first: `@tsmesh/telemetry/metrics` before `@tsmesh/telemetry` (an alias also matches `<name>/…`)
    .sort(([a], [b]) => b.length - a.length)
    .map(([name, [target]]) => [name, resolve(root, target)]),
);

/** Vitest config for the project in `projectDir`. */
export function projectConfig(projectDir: string, overrides: { testTimeout?: number; fileParallelism?: boolean } = {}): ViteUserConfig {
  const name = `${basename(dirname(projectDir))}-${basename(projectDir)}`;
  return {
    root: projectDir,
    resolve: { alias: aliases },
    test: {
      include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: 30_000,
      fileParallelism: overrides.fileParallelism ?? true,
      pool: 'forks',
      // generates the Envoy message code @tsmesh/xds imports (a no-op when up to date)
      globalSetup: [resolve(root, 'tools/vitest-global-setup.ts')],
      reporters: ['default', ['json', { outputFile: resolve(root, '.reports', `${name}.json`) }]],
    },
  };
}
