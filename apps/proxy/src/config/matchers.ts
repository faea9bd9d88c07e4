/**
 * Precompiled string, header and query matchers (Envoy's `type.matcher.v3.StringMatcher`,
 * `config.route.v3.HeaderMatcher`, `QueryParameterMatcher`). Regexes are compiled once here,
 * anchored as RE2 full matches.
 */
import type { RE2JS } from 're2js';
import { re2js } from '../lazy-package';
import { reject } from './errors';

/** Kinds of string match. */
export const enum StrKind { Exact, Prefix, Suffix, Contains, Regex }

/** A compiled string matcher. */
export class StringMatch {
  readonly kind: StrKind;
  readonly value: string;
  readonly ignoreCase: boolean;
  readonly regex: Re2Matcher | null;
  constructor(kind: StrKind, value: string, ignoreCase: boolean, regex: Re2Matcher | null) {
    this.kind = kind;
    this.value = ignoreCase ? value.toLowerCase() : value;
    this.ignoreCase = ignoreCase;
    this.regex = regex;
  }

  /** Matches `s` (the whole string for exact and regex). */
  test(s: string): boolean {
    if (this.kind === StrKind.Regex) return this.regex!.test(s);
    const v = this.ignoreCase ? s.toLowerCase() : s;
    switch (this.kind) {
      case StrKind.Exact: return v === this.value;
      case StrKind.Prefix: return v.startsWith(this.value);
      case StrKind.Suffix: return v.endsWith(this.value);
      default: return v.includes(this.value);
    }
  }
}

/** A compiled RE2 expression that matches whole strings (Envoy's `safe_regex` semantics). */
export class Re2Matcher {
  /** `^(?:pattern)$`, for code that rewrites with the same pattern. */
  readonly source: string;
  private readonly re: RE2JS;
  constructor(pattern: string, ignoreCase: boolean) {
    const { RE2JS: R } = re2js();
    this.re = R.compile(pattern, ignoreCase ? R.CASE_INSENSITIVE : 0);
    this.source = `^(?:${pattern})$`;
  }
  test(s: string): boolean {
    return this.re.matches(s);
  }
}

/** Compiles an RE2 pattern (with RE2, as Envoy does) for full matches; rejects what RE2 refuses. */
export function compileRegex(pattern: string, field: string, flags = ''): Re2Matcher {
  try {
    return new Re2Matcher(pattern, flags.includes('i'));
  } catch (err) {
    return reject(field, `regex "${pattern}" does not compile: ${(err as Error).message}`);
  }
}

interface DecodedStringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: { regex?: string } | null;
  custom?: unknown;
  ignore_case?: boolean;
  match_pattern?: string;
}

/** Compiles a decoded `StringMatcher`. */
export function compileStringMatcher(m: DecodedStringMatcher, field: string): StringMatch {
  const ic = !!m.ignore_case;
  switch (m.match_pattern) {
    case 'exact': return new StringMatch(StrKind.Exact, m.exact ?? '', ic, null);
    case 'prefix': return new StringMatch(StrKind.Prefix, m.prefix ?? '', ic, null);
    case 'suffix': return new StringMatch(StrKind.Suffix, m.suffix ?? '', ic, null);
    case 'contains': return new StringMatch(StrKind.Contains, m.contains ?? '', ic, null);
    case 'safe_regex': return new StringMatch(StrKind.Regex, m.safe_regex?.regex ?? '', false, compileRegex(m.safe_regex?.regex ?? '', `${field}.safe_regex.regex`, ic ? 'i' : ''));
    default: return reject(field, `match_pattern "${m.match_pattern ?? ''}" is not supported`);
  }
}

/** What a header matcher checks. */
export const enum HeaderKind { String, Present, Range }

/** A compiled `HeaderMatcher`. `name` is lower-case; pseudo-headers (`:method`, ...) are resolved by the caller. */
export class HeaderMatch {
  constructor(
    readonly name: string,
    readonly kind: HeaderKind,
    readonly str: StringMatch | null,
    readonly present: boolean,
    readonly rangeStart: number,
    readonly rangeEnd: number,
    readonly invert: boolean,
    readonly missingAsEmpty: boolean,
  ) {}

  /** Matches a header value (undefined when absent; multiple values joined with ','). */
  test(value: string | undefined): boolean {
    let r: boolean;
    if (value === undefined && this.missingAsEmpty) value = '';
    if (this.kind === HeaderKind.Present) {
      r = (value !== undefined) === this.present;
    } else if (value === undefined) {
      return false; // an absent header never matches a value matcher, inverted or not
    } else if (this.kind === HeaderKind.Range) {
      const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
      r = n >= this.rangeStart && n < this.rangeEnd;
    } else {
      r = this.str!.test(value);
    }
    return this.invert ? !r : r;
  }
}

interface DecodedHeaderMatcher {
  name: string;
  header_match_specifier?: string;
  exact_match?: string;
  safe_regex_match?: { regex?: string } | null;
  range_match?: { start?: string | number; end?: string | number } | null;
  present_match?: boolean;
  prefix_match?: string;
  suffix_match?: string;
  contains_match?: string;
  string_match?: DecodedStringMatcher | null;
  invert_match?: boolean;
  treat_missing_header_as_empty?: boolean;
}

/** Compiles a decoded `HeaderMatcher`. */
export function compileHeaderMatcher(h: DecodedHeaderMatcher, field: string): HeaderMatch {
  const name = (h.name ?? '').toLowerCase();
  if (!name) reject(`${field}.name`, 'is empty');
  const mk = (kind: HeaderKind, str: StringMatch | null, present = false, a = 0, b = 0) =>
    new HeaderMatch(name, kind, str, present, a, b, !!h.invert_match, !!h.treat_missing_header_as_empty);
  switch (h.header_match_specifier) {
    case 'string_match': return mk(HeaderKind.String, compileStringMatcher(h.string_match!, `${field}.string_match`));
    case 'exact_match': return mk(HeaderKind.String, new StringMatch(StrKind.Exact, h.exact_match ?? '', false, null));
    case 'prefix_match': return mk(HeaderKind.String, new StringMatch(StrKind.Prefix, h.prefix_match ?? '', false, null));
    case 'suffix_match': return mk(HeaderKind.String, new StringMatch(StrKind.Suffix, h.suffix_match ?? '', false, null));
    case 'contains_match': return mk(HeaderKind.String, new StringMatch(StrKind.Contains, h.contains_match ?? '', false, null));
    case 'safe_regex_match': return mk(HeaderKind.String, new StringMatch(StrKind.Regex, '', false, compileRegex(h.safe_regex_match?.regex ?? '', `${field}.safe_regex_match.regex`)));
    case 'present_match': return mk(HeaderKind.Present, null, h.present_match !== false);
    case 'range_match': return mk(HeaderKind.Range, null, false, Number(h.range_match?.start ?? 0), Number(h.range_match?.end ?? 0));
    case undefined:
    case '':
      // No specifier: Envoy matches on presence.
      return mk(HeaderKind.Present, null, true);
    default: return reject(field, `header_match_specifier "${h.header_match_specifier}" is not supported`);
  }
}

/** A compiled `QueryParameterMatcher`. */
export class QueryMatch {
  constructor(readonly name: string, readonly str: StringMatch | null) {}
  /** `value` is undefined when the parameter is absent. */
  test(value: string | undefined): boolean {
    if (value === undefined) return false;
    return this.str === null ? true : this.str.test(value);
  }
}

/** Compiles a decoded `QueryParameterMatcher`. */
export function compileQueryMatcher(q: { name: string; string_match?: DecodedStringMatcher | null; present_match?: boolean; query_parameter_match_specifier?: string }, field: string): QueryMatch {
  if (!q.name) reject(`${field}.name`, 'is empty');
  if (q.query_parameter_match_specifier === 'string_match') return new QueryMatch(q.name, compileStringMatcher(q.string_match!, `${field}.string_match`));
  if (q.query_parameter_match_specifier === 'present_match' && q.present_match === false) reject(`${field}.present_match`, 'false is not supported');
  return new QueryMatch(q.name, null);
}
