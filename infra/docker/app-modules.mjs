// Copies only the packages an app's bundle needs: the bare imports of dist/apps/<app>/*.js and their
// dependency closure as package-lock.json resolves it, into <out>/node_modules.
//   node infra/docker/app-modules.mjs <workspace> <app> <out> [bundle dir, default <workspace>/dist/apps/<app>]
import { builtinModules } from 'node:module';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

const [workspace, app, out, bundleDir] = process.argv.slice(2);
if (!workspace || !app || !out) {
  console.error('usage: app-modules.mjs <workspace> <app> <out>');
  process.exit(2);
}
const lock = JSON.parse(readFileSync(join(workspace, 'package-lock.json'), 'utf8')).packages;
const builtins = new Set(builtinModules);
const packageName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

// Bare specifiers in the bundles (static imports, dynamic imports, require calls).
const wanted = new Set();
const distDir = bundleDir ?? join(workspace, 'dist/apps', app);
for (const file of readdirSync(distDir).filter((f) => f.endsWith('.js'))) {
  const text = readFileSync(join(distDir, file), 'utf8');
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["']([^"'./][^"']*)["']/g)) {
    const spec = m[1];
    if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0])) continue;
    wanted.add(packageName(spec));
  }
}

// npm's lookup: <from>/node_modules/<dep>, then each enclosing node_modules up to the root.
function resolve(from, dep) {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}node_modules/${dep}`;
    if (lock[candidate]) return candidate;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

const needed = new Set();
const queue = [...wanted].map((name) => {
  const path = resolve('', name);
  if (!path) throw new Error(`${app}: imports ${name}, which package-lock.json does not list`);
  return path;
});
while (queue.length) {
  const path = queue.pop();
  if (needed.has(path)) continue;
  needed.add(path);
  const meta = lock[path];
  const deps = { ...meta.dependencies, ...meta.optionalDependencies, ...meta.peerDependencies };
  for (const dep of Object.keys(deps)) {
    const at = resolve(path, dep);
    if (at && existsSync(join(workspace, at))) queue.push(at);
  }
}

for (const path of needed) {
  const from = join(workspace, path);
  const to = join(out, path);
  mkdirSync(dirname(to), { recursive: true });
  if (lstatSync(from).isSymbolicLink()) {
    if (!existsSync(to)) symlinkSync(readlinkSync(from), to);
    continue;
  }
  cpSync(from, to, { recursive: true, filter: (src) => src === from || !src.slice(from.length).includes('/node_modules/') });
}
console.log(`${app}: ${wanted.size} imported packages, ${needed.size} with dependencies`);
