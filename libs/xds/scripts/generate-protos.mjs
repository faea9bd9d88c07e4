#!/usr/bin/env node
// Generates libs/xds/src/proto/generated/envoy.js: static protobufjs code (protobufjs-cli's
// `static-module` target, no reflection at run time) for every message defined in
// ENVOY_PROTO_FILES (libs/xds/src/proto/registry.ts) plus EXTRA_ROOTS, and only the types those
// reach through their fields. Validation rules, descriptor.proto and other options-only protos
// are left out: options are dropped before code generation (they do not change the wire format;
// `packed` is kept); each namespace, message and enum is defined lazily (`lazyDefinitions`: built
// on first access, so a process materialises only the types it touches); the code is minified
// with esbuild. Runs offline from the protos inside
// @grpc/grpc-js-xds and the protobufjs-cli and esbuild packages.
// Skips the work when the output is up to date (same inputs hash).
//   node libs/xds/scripts/generate-protos.mjs [--force]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const lib = resolve(here, '..');
const outDir = join(lib, 'src/proto/generated');
const outFile = join(outDir, 'envoy.js');
const require = createRequire(import.meta.url);

/** Messages decoded by full name that no listed file defines. */
const EXTRA_ROOTS = ['google.protobuf.Struct', 'google.protobuf.Any', 'google.protobuf.Empty'];

const registryPath = join(lib, 'src/proto/registry.ts');
const pkgVersion = (name) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;

function inputsHash(files) {
  const h = createHash('sha256');
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  h.update(JSON.stringify({ files, EXTRA_ROOTS, cli: pkgVersion('protobufjs-cli'), pb: pkgVersion('protobufjs'), xds: pkgVersion('@grpc/grpc-js-xds') }));
  return h.digest('hex').slice(0, 16);
}

async function main() {
  // registry.ts is plain TypeScript: Node 24 strips the types.
  const registry = await import(pathToFileURL(registryPath).href);
  const files = [...registry.ENVOY_PROTO_FILES];
  const hash = inputsHash(files);
  const stamp = `// tsmesh-generated ${hash}`;
  if (!process.argv.includes('--force') && existsSync(outFile) && readFileSync(outFile, 'utf8').startsWith(stamp)) return;

  const root = registry.envoyRoot();
  const protobuf = require('protobufjs');
  const includeDirs = registry.envoyIncludeDirs();
  const defined = (t) => typeof t.filename === 'string' && files.some((f) => t.filename.endsWith(`/${f}`) && includeDirs.some((d) => t.filename === join(d, f)));

  // The closure: every message (and nested message) of the listed files, the extra roots, and
  // what their fields reach.
  const keep = new Set();
  const visit = (t) => {
    if (keep.has(t)) return;
    keep.add(t);
    if (t instanceof protobuf.Type) {
      for (const f of t.fieldsArray) {
        f.resolve();
        if (f.resolvedType) visit(f.resolvedType);
      }
    }
  };
  const walk = (ns) => {
    for (const n of ns.nestedArray) {
      if ((n instanceof protobuf.Type || n instanceof protobuf.Enum) && defined(n)) visit(n);
      if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) walk(n);
    }
  };
  walk(root);
  for (const name of EXTRA_ROOTS) visit(root.lookupType(name));

  // Prune to the closure, as a JSON descriptor: namespaces that hold nothing kept are dropped.
  const prune = (ns) => {
    const nested = {};
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Service) continue;
      if (n instanceof protobuf.Enum) {
        if (keep.has(n)) nested[n.name] = { values: n.values };
        continue;
      }
      const inner = n instanceof protobuf.Namespace || n instanceof protobuf.Type ? prune(n) : null;
      if (n instanceof protobuf.Type && !keep.has(n)) {
        // a message not needed itself that holds needed nested types: kept as their namespace
        if (inner) nested[n.name] = { nested: inner };
        continue;
      }
      if (n instanceof protobuf.Type) {
        const fields = {};
        for (const f of n.fieldsArray) {
          const j = { type: f.type, id: f.id };
          if (f.rule && f.rule !== 'optional') j.rule = f.rule;
          if (f.keyType) j.keyType = f.keyType;
          if (f.options && f.options.packed !== undefined) j.options = { packed: f.options.packed };
          if (f.options && f.options.proto3_optional) j.options = { ...(j.options ?? {}), proto3_optional: true };
          fields[f.name] = j;
        }
        const t = { fields };
        const oneofs = {};
        for (const o of n.oneofsArray) oneofs[o.name] = { oneof: o.oneof };
        if (Object.keys(oneofs).length) t.oneofs = oneofs;
        if (n.reserved) t.reserved = n.reserved;
        if (inner) t.nested = inner;
        nested[n.name] = t;
      } else if (inner) {
        nested[n.name] = { nested: inner };
      }
    }
    return Object.keys(nested).length ? nested : null;
  };
  // Field types are written fully qualified so the pruned descriptor resolves on its own.
  for (const t of keep) {
    if (!(t instanceof protobuf.Type)) continue;
    for (const f of t.fieldsArray) if (f.resolvedType) f.type = f.resolvedType.fullName;
  }
  const json = { options: { syntax: 'proto3' }, nested: prune(root) };

  const tmp = mkdtempSync(join(tmpdir(), 'tsmesh-protos-'));
  try {
    const src = join(tmp, 'envoy.json');
    writeFileSync(src, JSON.stringify(json));
    const out = join(tmp, 'envoy.js');
    const pbjs = join(dirname(require.resolve('protobufjs-cli/package.json')), 'bin/pbjs');
    execFileSync(process.execPath, [pbjs, '-t', 'static-module', '-w', 'esm', '--keep-case', '-r', 'tsmesh_envoy',
      '--no-create', '--no-verify', '--no-delimited', '--no-typeurl', '--no-comments', '-o', out, src], { stdio: ['ignore', 'inherit', 'inherit'] });
    // Minified (esbuild): the module is parsed by every proxy at start, so fewer bytes to hold.
    const { transform } = await import('esbuild');
    const { code } = await transform(lazyDefinitions(readFileSync(out, 'utf8'), keep.size), { minify: true, format: 'esm', target: 'node24', legalComments: 'none' });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(`${outFile}.${process.pid}.tmp`, `${stamp} — do not edit: made by ${relative(resolve(lib, '../..'), fileURLToPath(import.meta.url))} from ${files.length} Envoy proto files (${keep.size} types)\n${code}`);
    renameSync(`${outFile}.${process.pid}.tmp`, outFile);
    console.log(`generated ${relative(process.cwd(), outFile)}: ${keep.size} types, ${Math.round(code.length / 1024)} KiB`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Rewrites protobufjs' static module so that every `ns.Name = (function() { ... })();` block (a
 * namespace, a message class with its encoder/decoder/converters, an enum) becomes a getter that
 * runs the block on first access and then replaces itself with the value. The generated code
 * refers to other types only through `$root.<full name>` at call time, so nothing else changes;
 * what changes is that V8 neither compiles the blocks nor creates their ~3,500 functions, classes
 * and prototypes until a process uses the type (a proxy decodes a fraction of the 500 types).
 * Measured: importing the module went from 24 MB to 13 MB of anonymous memory.
 */
function lazyDefinitions(source, types) {
  const open = /^(\s*)([\w$]+(?:\.[\w$]+)*)\.([\w$]+) = \(function\(\) \{$/;
  const out = [];
  const stack = [];
  let blocks = 0;
  for (const line of source.split('\n')) {
    const m = open.exec(line);
    if (m) {
      stack.push(m[1]);
      out.push(`${m[1]}$lazy(${m[2]}, ${JSON.stringify(m[3])}, function() {`);
      blocks++;
    } else if (stack.length && line === `${stack[stack.length - 1]}})();`) {
      out.push(`${stack.pop()}});`);
    } else out.push(line);
  }
  // every type is one block (namespaces add more): fewer means protobufjs-cli changed its layout
  if (stack.length || blocks < types) throw new Error(`generate-protos: ${blocks} lazy blocks for ${types} types, ${stack.length} unclosed; the static-module layout is not the one expected`);
  const lazy = 'const $lazy = (ns, name, make) => $Object.defineProperty(ns, name, { configurable: true, enumerable: true, get() { const value = make(); $Object.defineProperty(ns, name, { value, writable: true, enumerable: true, configurable: true }); return value; } });\n';
  const joined = out.join('\n');
  const i = joined.indexOf('const $root = ');
  if (i < 0) throw new Error('generate-protos: no $root in the static module');
  return joined.slice(0, i) + lazy + joined.slice(i);
}

await main();
