// Offline validation of Kubernetes manifests:
// - built-in kinds against the Kubernetes OpenAPI schema (types, formats, required fields, enums) as
//   compiled in `kubernetes-models`, plus unknown fields (as `kubectl --validate=strict` reports them)
//   from the model attribute maps generated into `@kubernetes/client-node`;
// - custom resources against the openAPIV3Schema of their CRD (served version), unknown fields refused;
// - CRDs themselves against apiextensions.k8s.io/v1 and the structural-schema rules.
import * as k8s from '@kubernetes/client-node';
import { Ajv, type ValidateFunction } from 'ajv';
import type { RenderedObject } from './kustomize';

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };
type Json = Record<string, unknown>;

const PRIMITIVES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString', 'V1MicroTime']);

/** Fields of `value` that the Kubernetes type `type` (a client-node model name) does not have. */
export function unknownFields(value: unknown, type: string, path: string, out: string[] = []): string[] {
  if (value === null || value === undefined) return out;
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, list[1], `${path}[${i}]`, out));
    return out;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}[${k}]`, out);
    return out;
  }
  if (PRIMITIVES.has(type)) return out;
  const model = (k8s as unknown as Record<string, ModelClass | undefined>)[type];
  if (!model?.getAttributeTypeMap || typeof value !== 'object' || Array.isArray(value)) return out;
  const attributes = model.getAttributeTypeMap();
  for (const [key, v] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) out.push(`${path}.${key}: unknown field`);
    else unknownFields(v, attribute.type, `${path}.${key}`, out);
  }
  return out;
}

/** Errors of a built-in object against the Kubernetes schema; throws if the kind is not known. */
async function builtinErrors(obj: Json): Promise<string[]> {
  const apiVersion = obj.apiVersion as string;
  const kind = obj.kind as string;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  let Model: { new (data: unknown): { validate(): void } };
  try {
    const mod = (await import(/* @vite-ignore */ `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`)) as Record<string, typeof Model>;
    Model = mod[kind];
  } catch {
    return [`${apiVersion} ${kind}: no such kind in the Kubernetes API`];
  }
  const errors: string[] = [];
  try {
    new Model(obj).validate();
  } catch (err) {
    const e = err as { errors?: { instancePath: string; message?: string }[]; message: string };
    for (const x of e.errors ?? [{ instancePath: '', message: e.message }]) errors.push(`${x.instancePath.replace(/\//g, '.') || '.'}: ${x.message}`);
  }
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  const typeName = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  if ((k8s as unknown as Record<string, unknown>)[typeName]) unknownFields(rest, typeName, '', errors);
  return errors;
}

/** Makes a CRD schema strict: objects with `properties` refuse other fields (kubectl --validate=strict). */
function strict(schema: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, strict(v as Json)]));
    else if ((key === 'items' || key === 'additionalProperties') && value && typeof value === 'object') out[key] = strict(value as Json);
    else out[key] = value;
  }
  if (schema.type === 'object' && schema.properties && !schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

/** Structural-schema rules a CRD must follow to be accepted by the API server (the ones that matter here). */
export function structuralErrors(schema: Json, path: string, out: string[] = []): string[] {
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (!schema.type && !preserve && !intOrString) out.push(`${path}: type is required in a structural schema`);
  if (schema.properties && schema.additionalProperties !== undefined) out.push(`${path}: properties and additionalProperties cannot both be set`);
  if (schema.type === 'array' && !schema.items) out.push(`${path}: arrays need items`);
  for (const [k, v] of Object.entries((schema.properties as Json | undefined) ?? {})) structuralErrors(v as Json, `${path}.${k}`, out);
  if (schema.items) structuralErrors(schema.items as Json, `${path}[]`, out);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') structuralErrors(schema.additionalProperties as Json, `${path}{}`, out);
  return out;
}

/** Validates rendered objects; returns `<source> <Kind> <ns>/<name>: <field>: <reason>` lines, [] when all are valid. */
export class ManifestValidator {
  private readonly crdValidators = new Map<string, ValidateFunction>();
  private readonly ajv = new Ajv({ allErrors: true, strict: false });

  constructor(crds: Json[] = []) {
    this.ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    this.ajv.addFormat('double', { type: 'number', validate: () => true });
    this.ajv.addFormat('byte', { type: 'string', validate: (s: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) });
    this.ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
    for (const crd of crds) this.addCrd(crd);
  }

  /** Registers a CRD's served versions for custom-resource validation. */
  addCrd(crd: Json): void {
    const spec = crd.spec as { group: string; names: { kind: string }; versions: { name: string; served: boolean; schema: { openAPIV3Schema: Json } }[] };
    for (const v of spec.versions) {
      if (!v.served) continue;
      this.crdValidators.set(`${spec.group}/${v.name}/${spec.names.kind}`, this.ajv.compile(strict(v.schema.openAPIV3Schema)));
    }
  }

  /** Errors of one object (without the source prefix). */
  async errorsOf(obj: Json): Promise<string[]> {
    const apiVersion = obj.apiVersion as string;
    const kind = obj.kind as string;
    const custom = this.crdValidators.get(`${apiVersion}/${kind}`);
    if (custom) {
      const { apiVersion: _a, kind: _k, metadata, ...rest } = obj;
      const errors: string[] = [];
      if (!custom(rest)) {
        for (const e of custom.errors ?? []) {
          const extra = e.keyword === 'additionalProperties' ? ` (${(e.params as { additionalProperty: string }).additionalProperty})` : '';
          errors.push(`${e.instancePath.replace(/\//g, '.') || '.'}: ${e.message}${extra}`);
        }
      }
      unknownFields(metadata, 'V1ObjectMeta', '.metadata', errors);
      return errors;
    }
    if (/\.istio\.io\//.test(apiVersion)) return [`${apiVersion} ${kind}: no CRD defines this kind and version`];
    const errors = await builtinErrors(obj);
    if (kind === 'CustomResourceDefinition') {
      for (const v of ((obj.spec as Json).versions as { name: string; schema?: { openAPIV3Schema?: Json } }[]) ?? []) {
        if (v.schema?.openAPIV3Schema) structuralErrors(v.schema.openAPIV3Schema, `.spec.versions[${v.name}].schema.openAPIV3Schema`, errors);
      }
    }
    return errors;
  }

  /** Errors of every object, each prefixed with where it came from. */
  async validate(objects: RenderedObject[]): Promise<string[]> {
    const out: string[] = [];
    for (const { source, object } of objects) {
      const name = `${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;
      for (const e of await this.errorsOf(object)) out.push(`${source} ${object.kind} ${name}: ${e}`);
    }
    return out;
  }
}

/** A validator that knows the CRDs among `objects`, and the errors of all of them. */
export async function validateRendered(objects: RenderedObject[]): Promise<string[]> {
  const crds = objects.filter((o) => o.object.kind === 'CustomResourceDefinition').map((o) => o.object as Json);
  return new ManifestValidator(crds).validate(objects);
}
