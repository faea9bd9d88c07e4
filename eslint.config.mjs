// Lint rules for every project, including the Nx module boundaries:
// apps may import libs, libs may import libs, nothing imports an app
// (tools/eslint/module-boundaries.mjs wraps Nx's rule with a clearer app → app message).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';
import tsmesh from './tools/eslint/module-boundaries.mjs';

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '.tools/**', '.nx/**', 'bench/results/**', '**/*.d.ts', 'libs/xds/src/proto/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: { '@nx': nx, tsmesh },
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly',
        clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly',
        setImmediate: 'readonly', URL: 'readonly', performance: 'readonly', structuredClone: 'readonly',
        AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly',
      },
    },
    rules: {
      // Nx's module boundaries; an app importing an app is told to move the code into a lib.
      'tsmesh/module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib', 'type:infra'] },
            { sourceTag: 'type:bench', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:tools', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The dashboard's front end runs in a browser.
    files: ['apps/dashboard/src/**/*.ts'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', location: 'readonly', HTMLElement: 'readonly', HTMLAnchorElement: 'readonly' } },
  },
  {
    // Per-project vitest (and the dashboard's vite) configs share the root vitest.shared.ts.
    files: ['**/vitest.config.ts', '**/vite.config.ts'],
    rules: { 'tsmesh/module-boundaries': 'off' },
  },
];
