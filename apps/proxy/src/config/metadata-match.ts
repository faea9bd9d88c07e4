/**
 * Envoy's `type.matcher.v3.MetadataMatcher` for route matches (`RouteMatch.dynamic_metadata`): a
 * filter's dynamic metadata, a path of keys into it, and a value matcher — string, list (`one_of`),
 * `or_match`, presence — optionally inverted. Istio's JWT claim routing uses it on the
 * `istio_authn` metadata (`request.auth.claims.<claim>`) that the JWT filter writes.
 */
import { reject } from './errors';
import { compileStringMatcher, type StringMatch } from './matchers';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A compiled value matcher. */
type ValueMatch =
  | { kind: 'string'; m: StringMatch }
  | { kind: 'list'; of: ValueMatch }
  | { kind: 'or'; any: readonly ValueMatch[] }
  | { kind: 'present'; present: boolean };

/** One compiled metadata matcher. */
export class MetadataMatch {
  constructor(readonly filter: string, readonly path: readonly string[], private readonly value: ValueMatch, private readonly invert: boolean) {}

  /** True when the metadata (by filter name) matches. */
  test(metadata: Readonly<Record<string, unknown>> | null | undefined): boolean {
    let v: unknown = metadata?.[this.filter];
    for (const k of this.path) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    return valueMatches(this.value, v) !== this.invert;
  }
}

function valueMatches(m: ValueMatch, v: unknown): boolean {
  switch (m.kind) {
    case 'present': return (v !== undefined && v !== null) === m.present;
    case 'string': return typeof v === 'string' && m.m.test(v);
    case 'list': return Array.isArray(v) && v.some((x) => valueMatches(m.of, x));
    case 'or': return m.any.some((x) => valueMatches(x, v));
  }
}

function compileValue(v: Dec | null | undefined, field: string): ValueMatch {
  if (!v) return reject(field, 'is required');
  switch (v.match_pattern) {
    case 'string_match': return { kind: 'string', m: compileStringMatcher(v.string_match ?? {}, `${field}.string_match`) };
    case 'present_match': return { kind: 'present', present: !!v.present_match };
    case 'list_match': return { kind: 'list', of: compileValue(v.list_match?.one_of, `${field}.list_match.one_of`) };
    case 'or_match': return { kind: 'or', any: ((v.or_match?.value_matchers ?? []) as Dec[]).map((x, i) => compileValue(x, `${field}.or_match.value_matchers[${i}]`)) };
    default: return reject(`${field}.match_pattern`, `"${v.match_pattern ?? ''}" is not supported (string_match, list_match, or_match, present_match)`);
  }
}

/** Compiles a decoded `MetadataMatcher`; throws ConfigError naming the field. */
export function compileMetadataMatcher(m: Dec, field: string): MetadataMatch {
  if (!m.filter) reject(`${field}.filter`, 'is empty');
  const path = ((m.path ?? []) as Dec[]).map((s, i) => {
    if (s.segment !== undefined && s.segment !== 'key') reject(`${field}.path[${i}]`, 'only key segments are supported');
    return String(s.key ?? '');
  });
  return new MetadataMatch(String(m.filter), path, compileValue(m.value, `${field}.value`), !!m.invert);
}
