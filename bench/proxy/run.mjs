#!/usr/bin/env node
// Runs the proxy benchmark (bench.ts), or with `rss` first the resident-memory measurement
// (rss.ts), through tsx with the workspace path aliases.
// usage: node bench/proxy/run.mjs [--rounds 5 --duration 3 ...]
//        node bench/proxy/run.mjs rss [--services 1000 --node-flags "..."]
//        node bench/proxy/run.mjs grpc [pair|one|direct] [seconds] [calls in flight]
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const script = args[0] === 'rss' ? 'rss.ts' : args[0] === 'grpc' ? 'grpc-pair.ts' : 'bench.ts';
if (args[0] === 'rss' || args[0] === 'grpc') args.shift();
// the Envoy message code @tsmesh/xds imports (a no-op when up to date)
const gen = spawnSync(process.execPath, [resolve(root, 'libs/xds/scripts/generate-protos.mjs')], { stdio: 'inherit' });
if (gen.status !== 0) process.exit(gen.status ?? 1);
const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, 'bench/proxy', script), ...args], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TSX_TSCONFIG_PATH: resolve(root, 'tsconfig.base.json') },
});
process.exit(r.status ?? 1);
