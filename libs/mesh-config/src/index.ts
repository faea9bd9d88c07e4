/** @tsmesh/mesh-config: Istio and Kubernetes resource types, multi-document YAML with line numbers, schema and semantic validation. */
export type * from './types/meta';
export type * from './types/istio';
export type * from './types/kube';
export * from './kinds';
export * from './issues';
export * from './resource';
export * from './yaml';
export * from './hosts';
export * from './protocol';
export { check, parseDurationMs, type Schema, type SchemaProblem } from './schema/dsl';
export { SCHEMAS } from './schema/schemas';
export * from './validate/validate';
export * from './validate/security';
export * from './regex';
export { checkIstioSchema, hasIstioSchema, ISTIO_SCHEMA_KINDS, ISTIO_SCHEMA_SOURCE, ISTIO_API_ADDITIONS } from './schema/istio';
export * from './analysis/messages';
export * from './analysis/analyze';
