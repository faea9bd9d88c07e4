// The Kubernetes Gateway API CRDs (standard channel: GatewayClass, Gateway, HTTPRoute, GRPCRoute,
// ReferenceGrant; experimental channel: TLSRoute, TCPRoute at v1alpha2, as Istio reads them), generated from a maintained package rather than written by hand:
// `@kubernetes-models/gateway-api` ships, for every definition of the upstream CRDs, a TypeScript
// declaration (fields, which are required, string enums, the field documentation) and a compiled
// JSON Schema validator (types, formats, lengths, ranges, patterns). This reads both — the
// declarations with the TypeScript compiler's type checker, the validators' keyword records for the
// named leaf types — and builds each version's structural `openAPIV3Schema`. CEL rules are not
// carried (the package has none; libs/mesh-config checks them, `src/schema/gateway-api.ts`).
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import ts from 'typescript';
import type { Schema } from './schema';

const require = createRequire(import.meta.url);
/** Where the package lives. */
export const GATEWAY_API_PACKAGE_DIR = dirname(require.resolve('@kubernetes-models/gateway-api/package.json'));
/** The package and version the CRDs come from. */
export const GATEWAY_API_SOURCE = `@kubernetes-models/gateway-api@${(JSON.parse(readFileSync(join(GATEWAY_API_PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version}`;

const GROUP = 'gateway.networking.k8s.io';

interface GatewayApiKind {
  kind: string;
  plural: string;
  shortNames?: string[];
  scope: 'Namespaced' | 'Cluster';
  /** Served versions, the storage version first. */
  versions: string[];
  /** Release channel (`gateway.networking.k8s.io/channel`); standard unless given. */
  channel?: 'standard' | 'experimental';
  columns: { name: string; type: string; jsonPath: string; priority?: number }[];
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** The standard channel's kinds, versions, names and printer columns. */
export const GATEWAY_API_KINDS: GatewayApiKind[] = [
  { kind: 'GatewayClass', plural: 'gatewayclasses', shortNames: ['gc'], scope: 'Cluster', versions: ['v1', 'v1beta1'], columns: [{ name: 'Controller', type: 'string', jsonPath: '.spec.controllerName' }, { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status' }, age] },
  { kind: 'Gateway', plural: 'gateways', shortNames: ['gtw'], scope: 'Namespaced', versions: ['v1', 'v1beta1'], columns: [{ name: 'Class', type: 'string', jsonPath: '.spec.gatewayClassName' }, { name: 'Address', type: 'string', jsonPath: '.status.addresses[*].value' }, { name: 'Programmed', type: 'string', jsonPath: '.status.conditions[?(@.type=="Programmed")].status' }, age] },
  { kind: 'HTTPRoute', plural: 'httproutes', scope: 'Namespaced', versions: ['v1', 'v1beta1'], columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, age] },
  { kind: 'GRPCRoute', plural: 'grpcroutes', scope: 'Namespaced', versions: ['v1'], columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, age] },
  { kind: 'ReferenceGrant', plural: 'referencegrants', shortNames: ['refgrant'], scope: 'Namespaced', versions: ['v1beta1', 'v1'], columns: [age] },
  { kind: 'TLSRoute', plural: 'tlsroutes', scope: 'Namespaced', versions: ['v1alpha2', 'v1alpha3', 'v1'], channel: 'experimental', columns: [{ name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames' }, age] },
  { kind: 'TCPRoute', plural: 'tcproutes', scope: 'Namespaced', versions: ['v1alpha2'], channel: 'experimental', columns: [age] },
];

/** The validator's keywords for the root of a named schema (`#/type`, `#/maximum`, …) from its compiled code. */
function leafKeywords(schemaName: string): Partial<Schema> & { pattern?: string; maxLength?: number; minLength?: number; maxItems?: number; format?: string } {
  const file = join(GATEWAY_API_PACKAGE_DIR, '_schemas', `${schemaName}.js`);
  if (!existsSync(file)) return {};
  const code = readFileSync(file, 'utf8');
  // Only the root function's records (nested functions validate other schemas, with their own roots).
  const start = code.indexOf('function validate0(');
  if (start < 0) return {};
  const next = code.indexOf('function validate', start + 10);
  const root = code.slice(start, next < 0 ? undefined : next);
  const out: Record<string, unknown> = {};
  for (const m of root.matchAll(/schemaPath:"#\/(type|format|maximum|minimum|maxLength|minLength|maxItems|minItems|pattern)",keyword:"\w+",params:\{(\w+):("(?:[^"\\]|\\.)*"|-?\d+)/g)) {
    const [, keyword, , raw] = m;
    const value = raw.startsWith('"') ? JSON.parse(raw) : Number(raw);
    out[keyword] = value;
  }
  return out;
}

/** The JSON Schema name the package uses for a declaration file (`v1/HTTPBackendRef.d.ts` → `IoK8sSigsGatewayApiApisV1HTTPBackendRef`). */
function schemaNameOf(declFile: string): string | undefined {
  const m = /gateway\.networking\.k8s\.io\/(v1(?:alpha\d|beta\d)?)\/(\w+)\.d\.ts$/.exec(declFile.replace(/\\/g, '/'));
  if (!m) return undefined;
  return `IoK8sSigsGatewayApiApisV${m[1].slice(1)}${m[2]}`;
}

function docOf(sym: ts.Symbol, checker: ts.TypeChecker): string | undefined {
  const text = ts.displayPartsToString(sym.getDocumentationComment(checker)).replace(/\\\*/g, '*').trim();
  return text || undefined;
}

/** Builds the structural schema of one declared type. */
class SchemaBuilder {
  constructor(private readonly checker: ts.TypeChecker) {}

  fromType(type: ts.Type, depth = 0): Schema {
    const c = this.checker;
    if (depth > 40) throw new Error('Gateway API types nest deeper than 40 levels');
    const alias = type.aliasSymbol?.declarations?.[0];
    const leaf = alias ? leafKeywords(schemaNameOf(alias.getSourceFile().fileName) ?? '') : {};
    if (type.isUnion()) {
      const parts = type.types.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
      if (parts.length && parts.every((t) => t.isStringLiteral())) return { type: 'string', enum: parts.map((t) => (t as ts.StringLiteralType).value), ...stringKeywords(leaf) };
      if (parts.length === 1) return this.fromType(parts[0], depth);
      if (parts.length && parts.every((t) => t.isNumberLiteral())) return { type: 'integer', format: 'int32', enum: parts.map((t) => (t as ts.NumberLiteralType).value) };
      // true | false is boolean
      if (parts.every((t) => t.flags & ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
      throw new Error(`unsupported union type ${c.typeToString(type)}`);
    }
    if (type.flags & ts.TypeFlags.String || type.isStringLiteral()) return { type: 'string', ...stringKeywords(leaf) };
    if (type.flags & ts.TypeFlags.Number) {
      // Gateway API has no floating-point fields (Kubernetes API conventions).
      return { type: 'integer', format: (leaf.format as string | undefined) ?? 'int32', ...(leaf.minimum !== undefined ? { minimum: leaf.minimum } : {}), ...(leaf.maximum !== undefined ? { maximum: leaf.maximum } : {}) } as Schema;
    }
    if (type.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
    if (c.isArrayType(type)) {
      const [item] = c.getTypeArguments(type as ts.TypeReference);
      return { type: 'array', items: this.fromType(item, depth + 1), ...(leaf.maxItems !== undefined ? { maxItems: leaf.maxItems } : {}) } as Schema;
    }
    if (type.flags & ts.TypeFlags.Object) {
      const index = c.getIndexInfoOfType(type, ts.IndexKind.String);
      const props = c.getPropertiesOfType(type);
      if (index && !props.length) return { type: 'object', additionalProperties: this.fromType(index.type, depth + 1) };
      const properties: Record<string, Schema> = {};
      const required: string[] = [];
      for (const p of props) {
        const decl = p.valueDeclaration ?? p.declarations?.[0];
        if (!decl) continue;
        const s = this.fromType(c.getTypeOfSymbolAtLocation(p, decl), depth + 1);
        const description = docOf(p, c);
        properties[p.name] = description ? { description, ...s } : s;
        if (!(p.flags & ts.SymbolFlags.Optional)) required.push(p.name);
      }
      return { type: 'object', properties, ...(required.length ? { required } : {}) };
    }
    if (type.flags & ts.TypeFlags.Any || type.flags & ts.TypeFlags.Unknown) return { 'x-kubernetes-preserve-unknown-fields': true };
    throw new Error(`unsupported type ${c.typeToString(type)}`);
  }
}

function stringKeywords(leaf: Record<string, unknown>): Partial<Schema> {
  const out: Record<string, unknown> = {};
  for (const k of ['format', 'maxLength', 'minLength', 'pattern']) if (leaf[k] !== undefined) out[k] = leaf[k];
  return out as Partial<Schema>;
}

/** The declaration file of one kind at one version. */
const declFile = (version: string, kind: string) => join(GATEWAY_API_PACKAGE_DIR, GROUP, version, `${kind}.d.ts`);

/** The `spec` and `status` schemas of every kind and version, from the package's declarations. */
function versionSchemas(): Map<string, { spec: Schema; status?: Schema; description?: string }> {
  const files = GATEWAY_API_KINDS.flatMap((k) => k.versions.map((v) => declFile(v, k.kind)));
  const program = ts.createProgram(files, { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022 });
  const checker = program.getTypeChecker();
  const builder = new SchemaBuilder(checker);
  const out = new Map<string, { spec: Schema; status?: Schema; description?: string }>();
  for (const k of GATEWAY_API_KINDS) {
    for (const v of k.versions) {
      const file = declFile(v, k.kind);
      const sf = program.getSourceFile(file);
      if (!sf) throw new Error(`${GATEWAY_API_SOURCE}: no declarations for ${k.kind} ${v} (${basename(file)})`);
      const iface = sf.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === `I${k.kind}`);
      if (!iface) throw new Error(`${GATEWAY_API_SOURCE}: ${basename(file)} declares no I${k.kind}`);
      const type = checker.getTypeAtLocation(iface);
      const prop = (name: string) => {
        const p = type.getProperty(name);
        return p ? builder.fromType(checker.getTypeOfSymbolAtLocation(p, iface), 1) : undefined;
      };
      const spec = prop('spec');
      if (!spec) throw new Error(`${GATEWAY_API_SOURCE}: I${k.kind} has no spec`);
      const ifaceSym = checker.getSymbolAtLocation(iface.name);
      out.set(`${k.kind}/${v}`, { spec, status: prop('status'), description: ifaceSym ? docOf(ifaceSym, checker) : undefined });
    }
  }
  return out;
}

/** The CustomResourceDefinitions of the standard channel, generated from the package. */
export function gatewayApiCrds(): { file: string; crd: Record<string, unknown> }[] {
  const schemas = versionSchemas();
  return GATEWAY_API_KINDS.map((k) => ({
    file: `${k.plural}.${GROUP}.yaml`,
    crd: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {
        name: `${k.plural}.${GROUP}`,
        annotations: { 'gateway.networking.k8s.io/channel': k.channel ?? 'standard', 'tsmesh.io/generated-from': GATEWAY_API_SOURCE },
        labels: { 'app.kubernetes.io/part-of': 'tsmesh', 'app.kubernetes.io/component': 'crds' },
      },
      spec: {
        group: GROUP,
        names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.kind.toLowerCase(), ...(k.shortNames ? { shortNames: k.shortNames } : {}), categories: ['gateway-api'] },
        scope: k.scope,
        versions: k.versions.map((v, i) => {
          const s = schemas.get(`${k.kind}/${v}`)!;
          return {
            name: v,
            served: true,
            storage: i === 0,
            additionalPrinterColumns: k.columns,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                ...(s.description ? { description: s.description } : {}),
                properties: {
                  apiVersion: { type: 'string' },
                  kind: { type: 'string' },
                  metadata: { type: 'object' },
                  spec: s.spec,
                  ...(s.status ? { status: s.status } : {}),
                },
                required: ['spec'],
              },
            },
            ...(s.status ? { subresources: { status: {} } } : {}),
          };
        }),
      },
    },
  }));
}
