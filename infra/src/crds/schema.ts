// Small builders for the structural OpenAPI v3 schemas of the Istio-compatible CRDs.
// Field names and meanings follow Istio's API reference (networking.istio.io, security.istio.io).

/** A structural schema node (the subset of OpenAPI v3 that CRDs accept). */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: (string | number)[];
  format?: string;
  minimum?: number;
  maximum?: number;
  maxProperties?: number;
  minItems?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
}

export const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
export const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
export const int = (description?: string, min?: number, max?: number): Schema => ({
  type: 'integer', format: 'int32', ...(description ? { description } : {}), ...(min !== undefined ? { minimum: min } : {}), ...(max !== undefined ? { maximum: max } : {}),
});
export const uint = (description?: string): Schema => int(description, 0, 4294967295);
export const num = (description?: string): Schema => ({ type: 'number', format: 'double', ...(description ? { description } : {}) });
export const oneOfStrings = (values: string[], description?: string): Schema => ({ type: 'string', enum: values, ...(description ? { description } : {}) });
export const list = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description ? { description } : {}) });
export const strings = (description?: string): Schema => list(str(), description);
export const mapOf = (value: Schema, description?: string): Schema => ({ type: 'object', additionalProperties: value, ...(description ? { description } : {}) });
export const labels = (description = 'Label names and values.'): Schema => mapOf(str(), description);
/** An object with the given properties (unknown ones are pruned by the API server and flagged by validation). */
export const obj = (properties: Record<string, Schema>, extra: Partial<Schema> = {}): Schema => ({ type: 'object', properties, ...extra });
/** A duration in Istio's protobuf JSON form, e.g. `5s`, `1.5s`, `100ms`. */
export const duration = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
/** Free-form object kept as-is (status, and settings tsmesh does not model). */
export const anyObject = (description?: string): Schema => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...(description ? { description } : {}) });
