// Offline validation of Pods against the Kubernetes OpenAPI schema: value types and formats from the
// schema compiled in `kubernetes-models`, unknown fields (as `kubectl --validate=strict` reports them)
// from the model attribute maps generated into `@kubernetes/client-node`.
import * as k8s from '@kubernetes/client-node';
import { Pod } from 'kubernetes-models/v1/Pod';

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };

const PRIMITIVES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString', 'RequestedServiceAccountToken', 'V1MicroTime']);

function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const list = /^Array<(.+)>$/.exec(type);
  if (list) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, list[1], `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}[${k}]`, out);
    return;
  }
  if (PRIMITIVES.has(type)) return;
  const model = (k8s as unknown as Record<string, ModelClass | undefined>)[type];
  if (!model?.getAttributeTypeMap || typeof value !== 'object' || Array.isArray(value)) return;
  const attributes = model.getAttributeTypeMap();
  for (const [key, v] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (!attribute) out.push(`${path}.${key}: unknown field (not in ${type})`);
    else unknownFields(v, attribute.type, `${path}.${key}`, out);
  }
}

/** Errors of a Pod against the Kubernetes schema (types, formats, required fields, unknown fields); [] when valid. */
export function podSchemaErrors(pod: unknown): string[] {
  const errors: string[] = [];
  try {
    new Pod(pod as ConstructorParameters<typeof Pod>[0]).validate();
  } catch (err) {
    const e = err as { errors?: { instancePath: string; message?: string }[]; message: string };
    if (e.errors) for (const x of e.errors) errors.push(`${x.instancePath || '/'}: ${x.message}`);
    else errors.push(e.message);
  }
  const { apiVersion: _a, kind: _k, ...rest } = pod as Record<string, unknown>;
  unknownFields(rest, 'V1Pod', 'pod', errors);
  return errors;
}
