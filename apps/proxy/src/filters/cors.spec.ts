import { describe, expect, it } from 'vitest';
import { CorsPolicyConfig } from './cors';

describe('CorsPolicy compilation', () => {
  it('compiles origins (exact, regex), methods, credentials; forward_not_matching_preflights defaults to true', () => {
    const p = CorsPolicyConfig.compile({ allow_origin_string_match: [{ match_pattern: 'exact', exact: 'https://a.example.com' }, { match_pattern: 'safe_regex', safe_regex: { regex: 'https://[^/]*\\.example\\.org' } }], allow_methods: 'GET', allow_credentials: { value: true } }, 'cors');
    expect(p.allows('https://a.example.com')).toBe(true);
    expect(p.allows('https://b.example.org')).toBe(true);
    expect(p.allows('https://b.example.org.evil.net')).toBe(false);
    expect(p.allows('http://a.example.com')).toBe(false);
    expect(p.allowCredentials).toBe(true);
    expect(p.forwardNotMatching).toBe(true);
    expect(CorsPolicyConfig.compile({ forward_not_matching_preflights: {} }, 'cors').forwardNotMatching).toBe(false);
  });

  it('refuses what it cannot enforce, naming the field: a partial filter_enabled, shadow mode, unknown fields', () => {
    expect(() => CorsPolicyConfig.compile({ filter_enabled: { default_value: { numerator: 50, denominator: 'HUNDRED' } } }, 'r.cors')).toThrow(/r\.cors\.filter_enabled: only 100% is supported/);
    expect(() => CorsPolicyConfig.compile({ shadow_enabled: { default_value: { numerator: 100 } } }, 'r.cors')).toThrow(/r\.cors\.shadow_enabled/);
    expect(CorsPolicyConfig.compile({ filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } } }, 'r.cors').origins).toEqual([]);
  });
});
