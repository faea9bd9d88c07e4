/** Envoy resources as readable JSON: every packed `Any` expanded to `{"@type": ..., ...fields}`. */
import { typeFor, TypeUrl, TYPE_SHORT_NAME, type EncodedResource, type ResourceTypeUrl } from '@tsmesh/xds';

const TO_OBJECT = { longs: String, enums: String, bytes: Buffer, defaults: false, oneofs: false, arrays: false } as const;

function isPacked(v: unknown): v is { type_url: string; value?: Uint8Array } {
  if (!v || typeof v !== 'object' || typeof (v as { type_url?: unknown }).type_url !== 'string') return false;
  const value = (v as { value?: unknown }).value;
  return value === undefined ? Object.keys(v).length === 1 : value instanceof Uint8Array;
}

/** Recursively expands packed `Any` values (and Buffers inside them) into plain JSON. */
export function expandAny(v: unknown): unknown {
  if (isPacked(v)) {
    const t = typeFor(v.type_url);
    const decoded = t.toObject(t.decode(v.value ?? new Uint8Array()), TO_OBJECT) as Record<string, unknown>;
    return { '@type': v.type_url, ...(expandAny(decoded) as object) };
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(expandAny);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = expandAny(x);
    return out;
  }
  return v;
}

/** A resource's JSON as Envoy's config dump shows it: decoded from its encoded bytes, nested Anys expanded. */
export function resourceJson(r: EncodedResource): unknown {
  return expandAny(r.any);
}

/** All resources of a proxy, grouped by short type name (LDS, RDS, CDS, EDS, SDS; VHDS for a proxy that has virtual hosts apart), sorted by name. */
export function dumpResources(resources: Partial<Record<ResourceTypeUrl, readonly EncodedResource[]>>): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [t, list] of Object.entries(resources) as [ResourceTypeUrl, EncodedResource[]][]) {
    if (t === TypeUrl.VirtualHost && !list.length) continue;
    out[TYPE_SHORT_NAME[t]] = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map(resourceJson);
  }
  return out;
}
