/**
 * Declarations for `envoy.js` beside this file, which `libs/xds/scripts/generate-protos.mjs` makes
 * at build time (static protobufjs code; not in the repository). Only the surface `static.ts`
 * uses: the root object, its namespaces (`envoy`, `google`, `xds`, …) nesting message classes.
 */
declare const root: Record<string, unknown>;
export default root;
