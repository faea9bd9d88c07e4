// Builds one project with esbuild: each entry is bundled (workspace libs inlined through the
// tsconfig path aliases, npm packages left external) into dist/<projectRoot>/.
// usage: node tools/build.mjs <projectRoot> <entry.ts> [entry.ts ...]
import { build } from 'esbuild';
import { resolve, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { asciiBundle } from './ascii-bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [projectRoot, ...entries] = process.argv.slice(2);
if (!projectRoot || entries.length === 0) {
  console.error('usage: node tools/build.mjs <projectRoot> <entry.ts> [entry.ts ...]');
  process.exit(2);
}
// The Envoy message code @tsmesh/xds bundles is generated from the protos (a no-op when up to date).
execFileSync(process.execPath, [resolve(root, 'libs/xds/scripts/generate-protos.mjs')], { stdio: 'inherit' });
/**
 * `node:http` taken through `require()` rather than as an ES module. Node builds a built-in's ES
 * module namespace by reading every export, and three of node:http's are getters
 * (`WebSocket`, `CloseEvent`, `MessageEvent`) that load Node's bundled undici: 745 KB of source
 * compiled at start, ~12 MB of resident memory (measured: `import 'node:http'` 59.6 MB RSS,
 * `require('node:http')` 47.4 MB) in every process that never opens a WebSocket. The bundle
 * gets a module that requires node:http and re-exports its other exports; importing one of the
 * three fails the build instead of loading undici behind the code's back.
 */
const LAZY_HTTP_EXPORTS = new Set(['WebSocket', 'CloseEvent', 'MessageEvent']);
const requireHttp = {
  name: 'require-node-http',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http$/ }, () => ({ path: 'node:http', namespace: 'require-node-http' }));
    b.onLoad({ filter: /.*/, namespace: 'require-node-http' }, () => {
      const names = Object.getOwnPropertyNames(createRequire(import.meta.url)('node:http')).filter((k) => !LAZY_HTTP_EXPORTS.has(k) && /^[A-Za-z_$][\w$]*$/.test(k));
      return {
        contents: `import { createRequire } from 'node:module';\nconst http = createRequire(import.meta.url)('node:http');\nexport default http;\nexport const { ${names.join(', ')} } = http;\n`,
        loader: 'js',
        resolveDir: root,
      };
    });
  },
};
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
  plugins: [requireHttp],
});
// Every external module the bundle loads, for the images (infra/docker/app-modules.mjs).
writeFileSync(resolve(outdir, 'meta.json'), JSON.stringify(result.metafile));
asciiBundle(outdir); // one byte per character in V8's memory (see ascii-bundle.mjs)
console.log(`built ${relative(root, outdir)} (${entries.join(', ')})`);
