/**
 * Subject alt name checks of a TLS peer: Envoy's `CertificateValidationContext`
 * `match_typed_subject_alt_names` (by SAN type) and the older `match_subject_alt_names` (any
 * type). Istio puts the SPIFFE IDs of a destination's service accounts there (URI SANs) and a
 * DestinationRule's `subjectAltNames` (DNS). Matchers are compiled once per config.
 */
import { compileStringMatcher, StrKind, type StringMatch } from '../config/matchers';
import { reject } from '../config/errors';

/** SAN types as Envoy names them. */
export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS' | 'ANY';

/** One compiled SAN matcher. */
export interface SanMatcher {
  readonly type: SanType;
  readonly match: StringMatch;
}

/** One SAN of a certificate. */
export interface San {
  type: Exclude<SanType, 'ANY'>;
  value: string;
}

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Compiles the SAN matchers of a decoded `CertificateValidationContext`. */
export function compileSanMatchers(v: Dec | null | undefined, field: string): SanMatcher[] {
  const out: SanMatcher[] = [];
  for (const [i, t] of ((v?.match_typed_subject_alt_names ?? []) as Dec[]).entries()) {
    const type = t.san_type as string;
    if (type !== 'DNS' && type !== 'URI' && type !== 'EMAIL' && type !== 'IP_ADDRESS') reject(`${field}.match_typed_subject_alt_names[${i}].san_type`, `"${type}" is not supported`);
    out.push({ type, match: compileStringMatcher(t.matcher ?? {}, `${field}.match_typed_subject_alt_names[${i}].matcher`) });
  }
  for (const [i, m] of ((v?.match_subject_alt_names ?? []) as Dec[]).entries()) {
    out.push({ type: 'ANY', match: compileStringMatcher(m, `${field}.match_subject_alt_names[${i}]`) });
  }
  return out;
}

const SAN_PREFIX: Record<string, San['type']> = { DNS: 'DNS', URI: 'URI', email: 'EMAIL', 'IP Address': 'IP_ADDRESS' };

/** Parses Node's `PeerCertificate.subjectaltname` (`DNS:a, URI:spiffe://…, IP Address:10.0.0.1`). */
export function parseSubjectAltName(text: string | undefined): San[] {
  const out: San[] = [];
  if (!text) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = SAN_PREFIX[text.slice(i, colon)];
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      // Node quotes values holding separators, JSON-style.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(j, k + 1)) as string;
      j = k + 1;
    } else {
      const end = text.indexOf(', ', j);
      value = text.slice(j, end < 0 ? text.length : end);
      j = end < 0 ? text.length : end;
    }
    if (type) out.push({ type, value });
    i = text.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return out;
}

/** DNS SAN `*.example.com` in a certificate covers `a.example.com` (one label), as Envoy's DNS exact match does. */
function dnsWildcardCovers(san: string, name: string): boolean {
  if (!san.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot).toLowerCase() === san.slice(1).toLowerCase();
}

/** True when no matchers are configured or one of the peer's SANs matches one of them. */
export function sansMatch(matchers: readonly SanMatcher[], sans: readonly San[]): boolean {
  if (!matchers.length) return true;
  for (const m of matchers) {
    for (const s of sans) {
      if (m.type !== 'ANY' && m.type !== s.type) continue;
      if (m.match.test(s.value)) return true;
      if (s.type === 'DNS' && m.match.kind === StrKind.Exact && dnsWildcardCovers(s.value, m.match.value)) return true;
    }
  }
  return false;
}

/** A human-readable list of what was expected, for errors and logs. */
export function describeMatchers(matchers: readonly SanMatcher[]): string {
  return matchers.map((m) => `${m.type}:${m.match.value || m.match.regex?.source || ''}`).join(', ');
}
