// Prepares <context>/.docker-stage/ for `BUILD_MODE=host` image builds: the bundles in dist/apps/<app>,
// package.json, the proxy's native addon folder, and modules/<app>/node_modules with only the
// packages each bundle imports (app-modules.mjs), copied from this machine's install.
//   node infra/docker/stage.mjs <context dir> <app> [app ...]
import { execFileSync } from 'node:child_process';
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

for (const app of apps) {
  const dist = join(root, 'dist/apps', app);
  if (existsSync(dist)) cpSync(dist, join(stage, 'dist/apps', app), { recursive: true });
}
for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(stage, file));
if (existsSync(join(root, 'apps/proxy/native'))) cpSync(join(root, 'apps/proxy/native'), join(stage, 'apps/proxy/native'), { recursive: true });

for (const app of apps) {
  if (!existsSync(join(root, 'dist/apps', app))) continue;
  execFileSync(process.execPath, [join(root, 'infra/docker/app-modules.mjs'), root, app, join(stage, 'modules', app)], { stdio: 'inherit' });
}
console.log(`staged ${apps.length} app(s) in ${stage}`);
