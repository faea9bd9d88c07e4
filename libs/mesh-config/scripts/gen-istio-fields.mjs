// Generates src/schema/istio-fields.gen.json: the field tree of every Istio kind and version, read
// from the type declarations of @kubernetes-models/istio (which are generated from Istio's CRDs).
// The JSON Schema validators of the same package check types, enums, ranges and required fields;
// this tree adds what they cannot: unknown fields, which Kubernetes' strict field validation
// rejects. Run after upgrading the package:  node libs/mesh-config/scripts/gen-istio-fields.mjs
// (the mesh-config tests fail when the committed file is out of date).
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
/** Root of the installed @kubernetes-models/istio package. */
export function packageRoot() {
  return dirname(require.resolve('@kubernetes-models/istio/package.json', { paths: [resolve(here, '../../..')] }));
}

const GROUPS = ['networking.istio.io', 'security.istio.io', 'telemetry.istio.io', 'extensions.istio.io'];

/** Builds the tree: `{ version, nodes, roots }`; a node is 0 (scalar), 1 (anything), `{f, m}` (object: fields, map values) or `{l}` (list). */
export function generate() {
  const root = packageRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const nodes = [];
  const ids = new Map();
  const intern = (node) => {
    const key = JSON.stringify(node);
    let id = ids.get(key);
    if (id === undefined) {
      id = nodes.length;
      nodes.push(node);
      ids.set(key, id);
    }
    return id;
  };
  const SCALAR = intern(0);
  const ANY = intern(1);
  const mergeIds = (a, b) => {
    const na = nodes[a];
    const nb = nodes[b];
    if (na === 0) return b;
    if (nb === 0) return a;
    if (typeof na === 'object' && typeof nb === 'object' && na.f && nb.f) {
      const f = { ...na.f };
      for (const [k, v] of Object.entries(nb.f)) f[k] = f[k] === undefined || f[k] === v ? v : mergeIds(f[k], v);
      const sorted = Object.fromEntries(Object.entries(f).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
      const m = na.m ?? nb.m;
      return intern(m === undefined ? { f: sorted } : { f: sorted, m });
    }
    if (typeof na === 'object' && typeof nb === 'object' && na.l !== undefined && nb.l !== undefined) return intern({ l: mergeIds(na.l, nb.l) });
    return ANY;
  };
  const typeNode = (t) => {
    if (!t) return ANY;
    if (ts.isParenthesizedTypeNode(t)) return typeNode(t.type);
    if (ts.isTypeLiteralNode(t)) {
      const f = {};
      let m;
      for (const member of t.members) {
        if (ts.isPropertySignature(member)) {
          const name = ts.isStringLiteral(member.name) || ts.isIdentifier(member.name) ? member.name.text : member.name.getText();
          f[name] = typeNode(member.type);
        } else if (ts.isIndexSignatureDeclaration(member)) {
          m = typeNode(member.type);
        }
      }
      const sorted = Object.fromEntries(Object.entries(f).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      return intern(m === undefined ? { f: sorted } : { f: sorted, m });
    }
    if (ts.isArrayTypeNode(t)) return intern({ l: typeNode(t.elementType) });
    if (ts.isTypeReferenceNode(t)) {
      const name = t.typeName.getText();
      if (name === 'Array' && t.typeArguments?.length === 1) return intern({ l: typeNode(t.typeArguments[0]) });
      // oneOf encodings: Exclude<A, B> keeps the fields of A.
      if ((name === 'Exclude' || name === 'Extract' || name === 'NonNullable') && t.typeArguments?.length) return typeNode(t.typeArguments[0]);
      return ANY;
    }
    if (ts.isUnionTypeNode(t) || ts.isIntersectionTypeNode(t)) {
      // oneOf / anyOf alternatives and intersections: the fields of every part are allowed.
      const parts = [...new Set(t.types.map(typeNode).filter((x) => x !== SCALAR))];
      if (parts.length === 0) return SCALAR;
      if (parts.length === 1) return parts[0];
      if (parts.includes(ANY)) return ANY;
      const objs = parts.map((id) => nodes[id]);
      if (objs.every((n) => typeof n === 'object' && n.f)) {
        const f = {};
        let m;
        for (const n of objs) {
          for (const [k, v] of Object.entries(n.f)) f[k] = f[k] === undefined || f[k] === v ? v : mergeIds(f[k], v);
          if (n.m !== undefined) m = n.m;
        }
        const sorted = Object.fromEntries(Object.entries(f).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        return intern(m === undefined ? { f: sorted } : { f: sorted, m });
      }
      return ANY;
    }
    if (t.kind === ts.SyntaxKind.AnyKeyword || t.kind === ts.SyntaxKind.UnknownKeyword || t.kind === ts.SyntaxKind.ObjectKeyword) return ANY;
    return SCALAR;
  };
  const roots = {};
  for (const group of GROUPS) {
    const gdir = join(root, group);
    if (!existsSync(gdir)) continue;
    for (const version of readdirSync(gdir).sort()) {
      const vdir = join(gdir, version);
      if (!existsSync(join(vdir, 'index.d.ts'))) continue;
      for (const file of readdirSync(vdir).sort()) {
        if (!file.endsWith('.d.ts') || file === 'index.d.ts') continue;
        const kind = file.slice(0, -'.d.ts'.length);
        const src = ts.createSourceFile(file, readFileSync(join(vdir, file), 'utf8'), ts.ScriptTarget.Latest, true);
        const iface = src.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === `I${kind}`);
        if (!iface) continue;
        const f = {};
        for (const member of iface.members) {
          if (!ts.isPropertySignature(member)) continue;
          const name = member.name.text;
          // metadata is Kubernetes' ObjectMeta, checked by the envelope rules; status is written by Istio.
          f[name] = name === 'metadata' || name === 'status' ? ANY : typeNode(member.type);
        }
        roots[`${group}/${version}/${kind}`] = intern({ f: Object.fromEntries(Object.entries(f).sort(([a], [b]) => (a < b ? -1 : 1))) });
      }
    }
  }
  return { package: `${pkg.name}@${pkg.version}`, nodes, roots };
}

/** Where the generated tree is kept. */
export const OUTPUT = resolve(here, '../src/schema/istio-fields.gen.json');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(OUTPUT, JSON.stringify(generate()) + '\n');
  console.log(`wrote ${OUTPUT}`);
}
