// Prepares <context>/.docker-stage/ for `BUILD_MODE=host` image builds: each app bundled into
// dist/apps/<app>/main.js (as tools/build.mjs does, but written here, so a build running beside it
// in dist/ is left alone), package.json, the proxy's native addon folder, and
// modules/<app>/node_modules with only the packages each bundle imports (app-modules.mjs), copied
// from this machine's install.
//   node infra/docker/stage.mjs <context dir> <app> [app ...]
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const [context, ...apps] = process.argv.slice(2);
if (!context) {
  console.error('usage: stage.mjs <context dir> <app> [app ...]');
  process.exit(2);
}
const stage = join(resolve(context), '.docker-stage');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// The Envoy message code @tsmesh/xds bundles is generated from the protos (a no-op when up to date).
execFileSync(process.execPath, [join(root, 'libs/xds/scripts/generate-protos.mjs')], { stdio: 'inherit' });
const built = [];
for (const app of apps) {
  const entry = join(root, 'apps', app, 'src/main.ts');
  if (!existsSync(entry)) {
    console.error(`stage: apps/${app}/src/main.ts does not exist; skipped`);
    continue;
  }
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outdir: join(stage, 'dist/apps', app),
    outbase: join(root, 'apps', app, 'src'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    splitting: true, // as tools/build.mjs
    sourcemap: true,
    tsconfig: join(root, 'tsconfig.base.json'),
    logLevel: 'warning',
  });
  built.push(app);
}
for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(stage, file));
if (existsSync(join(root, 'apps/proxy/native'))) cpSync(join(root, 'apps/proxy/native'), join(stage, 'apps/proxy/native'), { recursive: true });

for (const app of built) {
  execFileSync(process.execPath, [join(root, 'infra/docker/app-modules.mjs'), root, app, join(stage, 'modules', app), join(stage, 'dist/apps', app)], { stdio: 'inherit' });
}
console.log(`staged ${built.length} app(s) in ${stage}`);
