/**
 * Packages that only some configs need, required on first use instead of imported at start: a
 * proxy whose config has no `safe_regex` never holds RE2's source and compiled code, nor one
 * without a JWT provider jose's (about 2 MB of resident memory together, see apps/proxy/README.md,
 * Memory). `require` is synchronous, so config compilation stays synchronous; jose is an ES
 * module, which Node 24 loads through `require` too. Each is loaded by a literal name, so the
 * image build (infra/docker/app-modules.mjs) sees and ships it.
 */
import { createRequire } from 'node:module';
import type * as Jose from 'jose';
import type * as Re2 from 're2js';

const load = createRequire(import.meta.url);

function once<T>(get: () => T): () => T {
  let m: T | undefined;
  return () => (m ??= get());
}

/** RE2 (`safe_regex` matchers and rewrites). */
export const re2js = once(() => load('re2js') as typeof Re2);

/** jose (the JWT filter's key sets and verification). */
export const jose = once(() => load('jose') as typeof Jose);
