#!/usr/bin/env node
// Runs the proxy benchmark (bench.ts) through tsx with the workspace path aliases.
// usage: node bench/proxy/run.mjs [--duration 10] [--rate 1000] [--connections 64]
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, 'bench/proxy/bench.ts'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TSX_TSCONFIG_PATH: resolve(root, 'tsconfig.base.json') },
});
process.exit(r.status ?? 1);
