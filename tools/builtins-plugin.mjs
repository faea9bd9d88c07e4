// esbuild plugin of tools/build.mjs (and of the proxy's footprint test): Node's built-ins through require().
import { createRequire, isBuiltin } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Node's built-in modules taken through `require()` rather than as ES modules. Node builds a
 * built-in's ES module namespace by reading every export, and getters among them load or build
 * what the code may never use: node:http's `WebSocket`, `CloseEvent` and `MessageEvent` load
 * Node's bundled undici (745 KB of source compiled at start, ~12 MB of resident memory:
 * `import 'node:http'` 59.6 MB RSS, `require('node:http')` 47.4 MB); node:tls's
 * `rootCertificates` turns Node's whole CA store into 120-odd PEM strings (180 KB of heap);
 * node:crypto's `webcrypto`, node:fs's `promises` and streams, node:net's `BlockList` and
 * `SocketAddress` each load modules of their own. The bundle gets, per built-in, a module that
 * requires it and re-exports its plain (non-getter) exports; code reads a getter through the
 * default export when it needs one (`crypto.webcrypto`), and a named import of one fails the build
 * instead of loading it behind the code's back.
 */
const builtinExports = new Map();
function plainExports(name) {
  if (!builtinExports.has(name)) {
    const m = createRequire(import.meta.url)(name);
    const d = Object.getOwnPropertyDescriptors(m);
    builtinExports.set(name, Object.keys(d).filter((k) => !d[k].get && k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k)));
  }
  return builtinExports.get(name);
}
export const requireBuiltins = {
  name: 'require-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z][a-z0-9_/]*$/ }, (args) => {
      const bare = args.path.replace(/^node:/, '');
      // node:module is what the generated modules load the others with
      if (!isBuiltin(bare) || bare === 'module' || bare === 'test' || bare.startsWith('test/')) return undefined;
      return { path: `node:${bare}`, namespace: 'require-node-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'require-node-builtin' }, (args) => {
      const names = plainExports(args.path);
      return {
        contents: `import { createRequire, isBuiltin } from 'node:module';\nconst m = createRequire(import.meta.url)(${JSON.stringify(args.path)});\nexport default m;\n${names.length ? `export const { ${names.join(', ')} } = m;\n` : ''}`,
        loader: 'js',
        resolveDir: root,
      };
    });
  },
};
