// Prepares <context>/.docker-stage/ for `BUILD_MODE=host` image builds: the bundles in dist/apps/<app>, package.json
// and package-lock.json, the proxy's native addon folder, and only the production packages of
// node_modules (those package-lock.json does not mark "dev"), copied from this machine's install.
//   node infra/docker/stage.mjs <context dir> <app> [app ...]
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, readlinkSync, lstatSync } from 'node:fs';
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

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
let copied = 0;
for (const [path, meta] of Object.entries(lock.packages)) {
  if (!path.startsWith('node_modules/') || meta.dev) continue;
  const from = join(root, path);
  const to = join(stage, path);
  if (!existsSync(from) && !lstatSync(from, { throwIfNoEntry: false })) continue; // optional, not installed here
  mkdirSync(dirname(to), { recursive: true });
  if (lstatSync(from).isSymbolicLink()) {
    if (!existsSync(to)) symlinkSync(readlinkSync(from), to);
  } else {
    // Nested node_modules are listed as their own entries; skip them here so dev ones stay out.
    cpSync(from, to, { recursive: true, filter: (src) => src === from || !src.slice(from.length).includes('/node_modules/') });
  }
  copied++;
}
console.log(`staged ${apps.length} app bundle(s) and ${copied} production packages in ${stage}`);
