// Builds one project with esbuild: each entry is bundled (workspace libs inlined through the
// tsconfig path aliases, npm packages left external) into dist/<projectRoot>/.
// usage: node tools/build.mjs <projectRoot> <entry.ts> [entry.ts ...]
import { build } from 'esbuild';
import { resolve, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { asciiBundle } from './ascii-bundle.mjs';
import { requireBuiltins } from './builtins-plugin.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [projectRoot, ...entries] = process.argv.slice(2);
if (!projectRoot || entries.length === 0) {
  console.error('usage: node tools/build.mjs <projectRoot> <entry.ts> [entry.ts ...]');
  process.exit(2);
}
// The Envoy message code @tsmesh/xds bundles is generated from the protos (a no-op when up to date).
execFileSync(process.execPath, [resolve(root, 'libs/xds/scripts/generate-protos.mjs')], { stdio: 'inherit' });
const outdir = resolve(root, 'dist', projectRoot);
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: entries.map((e) => resolve(root, projectRoot, e)),
  outdir,
  outbase: resolve(root, projectRoot, 'src'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  // modules loaded with import() (the proxy's tracing) go to their own chunks, with the packages they import
  splitting: true,
  sourcemap: true,
  tsconfig: resolve(root, 'tsconfig.base.json'),
  logLevel: 'warning',
  metafile: true,
  plugins: [requireBuiltins],
});
// Every external module the bundle loads, for the images (infra/docker/app-modules.mjs).
writeFileSync(resolve(outdir, 'meta.json'), JSON.stringify(result.metafile));
asciiBundle(outdir); // one byte per character in V8's memory (see ascii-bundle.mjs)
console.log(`built ${relative(root, outdir)} (${entries.join(', ')})`);
