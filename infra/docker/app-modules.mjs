// Copies only the packages an app's bundle needs into <out>/node_modules: every module the bundle
// loads, with its dependency closure as package-lock.json resolves it.
//   node infra/docker/app-modules.mjs <workspace> <app> <out> [bundle dir] [metafile]
// (bundle dir: default <workspace>/dist/apps/<app>; metafile: default <bundle dir>/meta.json)
//
// What a bundle loads comes from two sources, both exact:
// - esbuild's metafile: every external import of the output (import statements, dynamic import(),
//   require() and require.resolve() that esbuild sees);
// - the bundle's syntax tree (TypeScript's parser): loads esbuild cannot see, through a `require`
//   made by `createRequire(…)` — `req('x')`, `req.resolve('x')`, `createRequire(…)('x')`. A load
//   whose name is computed at run time cannot be shipped and fails the build, naming the place.
import { builtinModules } from 'node:module';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const builtins = new Set(builtinModules);

/** The package a specifier names: `@scope/name` or `name`. */
export const packageName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

const isBuiltin = (spec) => spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0]);
const isBare = (spec) => !spec.startsWith('.') && !spec.startsWith('/') && !/^[a-z]+:/i.test(spec);

/** Loads through `createRequire(…)` in one JavaScript file: [{ spec, kind, at }]. Throws on a computed name. */
export function createRequireLoads(file, text = readFileSync(file, 'utf8')) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const creators = new Set(); // local names of node:module's createRequire
  const namespaces = new Set(); // import * as m from 'node:module'
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    if (st.moduleSpecifier.text !== 'node:module' && st.moduleSpecifier.text !== 'module') continue;
    const b = st.importClause?.namedBindings;
    if (b && ts.isNamedImports(b)) {
      for (const el of b.elements) if ((el.propertyName ?? el.name).text === 'createRequire') creators.add(el.name.text);
    } else if (b && ts.isNamespaceImport(b)) namespaces.add(b.name.text);
  }
  const isCreateRequireCall = (n) => ts.isCallExpression(n) && (
    (ts.isIdentifier(n.expression) && creators.has(n.expression.text))
    || (ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'createRequire'
      && ts.isIdentifier(n.expression.expression) && namespaces.has(n.expression.expression.text)));
  const requires = new Set(); // variables holding a createRequire result
  const collect = (n) => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer && isCreateRequireCall(n.initializer)) requires.add(n.name.text);
    ts.forEachChild(n, collect);
  };
  collect(sf);
  const loads = [];
  const where = (n) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
  const visit = (n) => {
    if (ts.isCallExpression(n)) {
      const c = n.expression;
      let kind;
      if ((ts.isIdentifier(c) && requires.has(c.text)) || isCreateRequireCall(c)) kind = 'require-call';
      else if (ts.isPropertyAccessExpression(c) && c.name.text === 'resolve' && ((ts.isIdentifier(c.expression) && requires.has(c.expression.text)) || isCreateRequireCall(c.expression))) kind = 'require-resolve';
      if (kind) {
        const arg = n.arguments[0];
        if (!arg || !(ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) {
          throw new Error(`${where(n)}: a module is loaded through createRequire by a computed name (${n.getText(sf).slice(0, 80)}); the image cannot know to ship it: load it by a literal name`);
        }
        loads.push({ spec: arg.text, kind, at: where(n) });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return loads;
}

/**
 * Every bare module specifier the bundle in `bundleDir` loads at run time (no built-ins, no relative
 * paths), from the metafile and the createRequire loads: [{ spec, kind, at }], one per specifier and kind.
 */
export function bundleModules(bundleDir, metafile = join(bundleDir, 'meta.json')) {
  if (!existsSync(metafile)) throw new Error(`${metafile}: no esbuild metafile for this bundle (build it with metafile: true)`);
  const meta = JSON.parse(readFileSync(metafile, 'utf8'));
  const out = new Map();
  const add = (l) => {
    if (isBuiltin(l.spec) || !isBare(l.spec)) return;
    const key = `${l.spec}\0${l.kind}`;
    if (!out.has(key)) out.set(key, l);
  };
  for (const [name, o] of Object.entries(meta.outputs ?? {})) {
    for (const imp of o.imports ?? []) if (imp.external) add({ spec: imp.path, kind: imp.kind, at: name });
  }
  for (const file of readdirSync(bundleDir).filter((f) => f.endsWith('.js') || f.endsWith('.mjs'))) {
    for (const l of createRequireLoads(join(bundleDir, file))) add(l);
  }
  return [...out.values()];
}

/** The package-lock.json paths (`node_modules/…`) of the packages of `loads` and their dependency closure. */
export function moduleClosure(workspace, app, loads) {
  const lock = JSON.parse(readFileSync(join(workspace, 'package-lock.json'), 'utf8')).packages;
  // npm's lookup: <from>/node_modules/<dep>, then each enclosing node_modules up to the root.
  const resolveDep = (from, dep) => {
    let base = from;
    for (;;) {
      const candidate = `${base ? `${base}/` : ''}node_modules/${dep}`;
      if (lock[candidate]) return candidate;
      if (!base) return undefined;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const wanted = new Set(loads.map((l) => packageName(l.spec)));
  const needed = new Set();
  const queue = [...wanted].map((name) => {
    const path = resolveDep('', name);
    if (!path) throw new Error(`${app}: loads ${name} (${loads.find((l) => packageName(l.spec) === name).at}), which package-lock.json does not list`);
    return path;
  });
  while (queue.length) {
    const path = queue.pop();
    if (needed.has(path)) continue;
    needed.add(path);
    const meta = lock[path];
    const deps = { ...meta.dependencies, ...meta.optionalDependencies, ...meta.peerDependencies };
    for (const dep of Object.keys(deps)) {
      const at = resolveDep(path, dep);
      if (at && existsSync(join(workspace, at))) queue.push(at);
    }
  }
  return { wanted: wanted.size, needed: [...needed].sort(), lock };
}

/** Copies the packages of `loads` and their dependency closure from `workspace` into `<out>/node_modules`. */
export function copyModules(workspace, app, loads, out) {
  const { wanted, needed } = moduleClosure(workspace, app, loads);
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
  return { wanted, needed: needed.length };
}

if (process.argv[1] && resolvePath(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [workspace, app, out, bundleDir, metafile] = process.argv.slice(2);
  if (!workspace || !app || !out) {
    console.error('usage: app-modules.mjs <workspace> <app> <out> [bundle dir] [metafile]');
    process.exit(2);
  }
  const dir = bundleDir ?? join(workspace, 'dist/apps', app);
  try {
    const loads = bundleModules(dir, metafile);
    const n = copyModules(workspace, app, loads, out);
    console.log(`${app}: loads ${n.wanted} packages (${loads.map((l) => l.spec).join(', ')}), ${n.needed} with dependencies`);
  } catch (err) {
    console.error(`app-modules: ${app}: ${err.message}`);
    process.exit(1);
  }
}
