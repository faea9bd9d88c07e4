// Prepares <context>/.docker-stage/ for `BUILD_MODE=host` image builds: each app bundled into
// dist/apps/<app>/main.js (as tools/build.mjs does, but written here, so a build running beside it
// in dist/ is left alone) with its esbuild metafile in meta/<app>.json, package.json, the proxy's
// native addon folder, and modules/<app>/node_modules with only the packages each bundle loads
// (app-modules.mjs), copied from this machine's install.
//   node infra/docker/stage.mjs [--keep-built TAG] [--base DIGEST] <context dir> <app> [app ...]
// inputs/<app> is a digest of everything the app's image is made from (Dockerfile, package files,
// bundle, metafile, the packages' lock entries, the addon for the proxy, the base image's digest). With --keep-built, an app
// whose image tsmesh/<app>:TAG already carries that digest (label `tsmesh.inputs`) gets no copy of
// its packages: build-images.sh keeps that image.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleModules, copyModules, moduleClosure } from './app-modules.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
let keepTag;
let baseDigest = '';
while (args[0]?.startsWith('--')) {
  if (args[0] === '--keep-built') keepTag = args[1];
  else if (args[0] === '--base') baseDigest = args[1];
  else {
    console.error(`stage: unknown option ${args[0]}`);
    process.exit(2);
  }
  args.splice(0, 2);
}
const [context, ...apps] = args;
if (!context) {
  console.error('usage: stage.mjs [--keep-built TAG] [--base DIGEST] <context dir> <app> [app ...]');
  process.exit(2);
}
const stage = join(resolve(context), '.docker-stage');
rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, 'meta'), { recursive: true });
mkdirSync(join(stage, 'inputs'), { recursive: true });

// Code the bundles include that is generated at build time (as tools/build.mjs does; a no-op when up to date).
const generator = join(root, 'libs/xds/scripts/generate-protos.mjs');
if (existsSync(generator)) execFileSync(process.execPath, [generator], { stdio: ['ignore', 'ignore', 'inherit'] });

// tools/build.mjs's plugin: Node's built-ins through require()
const { requireBuiltins } = await import(pathToFileURL(join(root, 'tools/builtins-plugin.mjs')).href);
const built = [];
for (const app of apps) {
  const entry = join(root, 'apps', app, 'src/main.ts');
  if (!existsSync(entry)) {
    console.error(`stage: apps/${app}/src/main.ts does not exist; skipped`);
    continue;
  }
  const result = await build({
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
    metafile: true,
    plugins: [requireBuiltins], // as tools/build.mjs: Node's built-ins through require()
  });
  // What the bundle imports, for app-modules.mjs (kept out of dist/ so it is not shipped).
  writeFileSync(join(stage, 'meta', `${app}.json`), JSON.stringify(result.metafile));
  // as tools/build.mjs: one byte per character in V8's memory
  execFileSync(process.execPath, [join(root, 'tools/ascii-bundle.mjs'), join(stage, 'dist/apps', app)], { stdio: 'inherit' });
  built.push(app);
}
for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(stage, file));
if (existsSync(join(root, 'apps/proxy/native'))) cpSync(join(root, 'apps/proxy/native'), join(stage, 'apps/proxy/native'), { recursive: true });

function files(dir, base = dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) files(p, base, out);
    else if (e.isFile()) out.push(relative(base, p));
  }
  return out;
}

function imageInputs(app, loads) {
  const h = createHash('sha256').update(baseDigest);
  for (const f of [join(root, 'infra/docker/Dockerfile'), join(stage, 'package.json'), join(stage, 'package-lock.json'), join(stage, 'meta', `${app}.json`)]) h.update(readFileSync(f));
  const dist = join(stage, 'dist/apps', app);
  for (const p of files(dist)) h.update(p).update(readFileSync(join(dist, p)));
  const { needed, lock } = moduleClosure(root, app, loads);
  h.update(JSON.stringify(needed.map((p) => [p, lock[p].version, lock[p].integrity ?? lock[p].resolved ?? ''])));
  if (app === 'proxy') {
    const native = join(stage, 'apps/proxy/native');
    for (const p of files(native)) h.update(p).update(readFileSync(join(native, p)));
  }
  return h.digest('hex').slice(0, 32);
}

function imageLabel(app) {
  try {
    return execFileSync('docker', ['image', 'inspect', `tsmesh/${app}:${keepTag}`, '--format', '{{index .Config.Labels "tsmesh.inputs"}}'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

let kept = 0;
for (const app of built) {
  const dist = join(stage, 'dist/apps', app);
  const loads = bundleModules(dist, join(stage, 'meta', `${app}.json`));
  const inputs = imageInputs(app, loads);
  writeFileSync(join(stage, 'inputs', app), inputs);
  if (keepTag && imageLabel(app) === inputs) {
    kept++;
    continue;
  }
  const n = copyModules(root, app, loads, join(stage, 'modules', app));
  console.log(`${app}: loads ${n.wanted} packages (${loads.map((l) => l.spec).join(', ')}), ${n.needed} with dependencies`);
}
console.log(`staged ${built.length} app(s) in ${stage}${kept ? ` (${kept} with an up-to-date image: packages not copied)` : ''}`);
