import { describe, expect, it } from 'vitest';
import { routeConfiguration, virtualHost, route, pack, unpack, TypeUrl, type RouteConfiguration__Output } from '@tsmesh/xds';
import { compileRouteTable, type RequestView } from './route';
import { ConfigError } from './errors';

const decode = (rc: object) => unpack<RouteConfiguration__Output>(pack(TypeUrl.RouteConfiguration, rc));
const req = (path: string, authority: string, headers: Record<string, string> = {}): RequestView => {
  const q = path.indexOf('?');
  return { method: 'GET', path: q < 0 ? path : path.slice(0, q), query: q < 0 ? '' : path.slice(q + 1), headers, authority, scheme: 'http', parsedQuery: null };
};

describe('route table compilation', () => {
  const t = compileRouteTable(decode(routeConfiguration('r', [
    virtualHost('exact', ['api.example.com', 'api.example.com:8080'], [route({ cluster: 'exact' })]),
    virtualHost('suffix', ['*.example.com'], [route({ cluster: 'suffix' })]),
    virtualHost('longer-suffix', ['*.b.example.com'], [route({ cluster: 'longer' })]),
    virtualHost('prefix', ['foo.*'], [route({ cluster: 'prefix' })]),
    virtualHost('any', ['*'], [
      route({ match: { path_separated_prefix: '/api' }, cluster: 'sep' }),
      route({ match: { prefix: '/CI', case_sensitive: { value: false } }, cluster: 'ci' }),
      route({ match: { prefix: '/', headers: [{ name: 'x-v', string_match: { exact: '2' }, invert_match: true }] }, cluster: 'not-v2' }),
      route({ cluster: 'fallback' }),
    ]),
  ])), 'v1');
  const pick = (r: RequestView) => t.selectVirtualHost(r.authority)?.match(r)?.action?.cluster;

  it('selects virtual hosts in Envoy order: exact, longest suffix, prefix, then *', () => {
    expect(pick(req('/', 'api.example.com'))).toBe('exact');
    expect(pick(req('/', 'API.example.com:8080'))).toBe('exact');
    expect(pick(req('/', 'api.example.com:9999'))).toBe('exact');
    expect(pick(req('/', 'x.b.example.com'))).toBe('longer');
    expect(pick(req('/', 'x.example.com'))).toBe('suffix');
    expect(pick(req('/', 'foo.bar'))).toBe('prefix');
    expect(t.selectVirtualHost('other')?.name).toBe('any');
  });

  it('matches separated prefixes, case-insensitive prefixes and inverted headers', () => {
    expect(pick(req('/api/x', 'z'))).toBe('sep');
    expect(pick(req('/api', 'z'))).toBe('sep');
    expect(pick(req('/apix', 'z'))).not.toBe('sep');
    expect(pick(req('/ci/x', 'z'))).toBe('ci');
    expect(pick(req('/x', 'z', { 'x-v': '2' }))).toBe('fallback');
    expect(pick(req('/x', 'z', { 'x-v': '1' }))).toBe('not-v2');
  });

  it('rejects what it cannot apply, naming the field', () => {
    const bad = decode(routeConfiguration('r', [virtualHost('v', ['*'], [route({ match: { safe_regex: { regex: '(' } }, cluster: 'c' })])]));
    expect(() => compileRouteTable(bad, 'v')).toThrow(ConfigError);
    expect(() => compileRouteTable(bad, 'v')).toThrow(/virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: regex "\(" does not compile/);
    const dup = decode(routeConfiguration('r', [virtualHost('a', ['x'], [route({ cluster: 'c' })]), virtualHost('b', ['x'], [route({ cluster: 'c' })])]));
    expect(() => compileRouteTable(dup, 'v')).toThrow(/virtual_hosts\[1\]\.domains\[0\]: domain "x" is already used/);
  });

  it('compiles and matches regexes with RE2, as Envoy does: a lookahead is NACKed, RE2 classes match', () => {
    const ahead = decode(routeConfiguration('r', [virtualHost('v', ['*'], [route({ match: { safe_regex: { regex: '/x/(?!Nope).*' } }, cluster: 'c' })])]));
    expect(() => compileRouteTable(ahead, 'v')).toThrow(/regex "\/x\/\(\?!Nope\)\.\*" does not compile: .*\(\?!/);
    const rc = decode(routeConfiguration('r', [virtualHost('v', ['*'], [
      route({ match: { safe_regex: { regex: '/id/[[:digit:]]+' } }, cluster: 'posix' }),
      route({ match: { safe_regex: { regex: '/p/\\pL+' } }, cluster: 'unicode' }),
      route({ match: { prefix: '/' }, cluster: 'rest' }),
    ])]));
    const t = compileRouteTable(rc, 'v');
    const pick = (path: string) => t.selectVirtualHost('z')?.match(req(path, 'z'))?.action?.cluster;
    expect(pick('/id/42')).toBe('posix');
    expect(pick('/id/42x')).toBe('rest');
    expect(pick('/p/héllo')).toBe('unicode');
  });
});
