import { describe, expect, it } from 'vitest';
import { parseConfigYaml } from '../yaml';
import { validateConfig } from './validate';
import { formatIssue } from '../issues';
import { parseConditionKey } from './security';

const check = (yaml: string) => {
  const p = parseConfigYaml(yaml, 'p.yaml');
  expect(p.issues).toEqual([]);
  const v = validateConfig(p.resources);
  return { lines: v.issues.map(formatIssue), rejected: [...v.rejected] };
};
const ap = (spec: string) => `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec:\n${spec}`;

describe('security validation: AuthorizationPolicy conditions', () => {
  it('rejects request.header[x-bad] (missing "s"), naming the field and the key it resembles', () => {
    const r = check(ap('  action: DENY\n  rules:\n    - to: [{operation: {paths: [/api/version]}}]\n      when:\n        - key: request.header[x-bad]\n          values: ["1"]\n'));
    expect(r.rejected).toEqual(['AuthorizationPolicy/default/p']);
    expect(r.lines).toEqual([expect.stringMatching(/^p\.yaml:9: AuthorizationPolicy default\/p: spec\.rules\[0\]\.when\[0\]\.key: unknown condition key "request\.header\[x-bad\]" \(did you mean request\.headers\[x-bad\]\?\)/)]);
  });

  it('accepts every key Istio accepts', () => {
    const keys = ['request.headers[User-Agent]', 'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'request.auth.principal',
      'request.auth.audiences', 'request.auth.presenter', 'request.auth.claims[groups]', 'request.auth.claims[org][team]', 'destination.ip',
      'destination.port', 'connection.sni', 'experimental.envoy.filters.network.mysql_proxy[db.table]'];
    for (const k of keys) expect(typeof parseConditionKey(k), k).toBe('object');
    for (const k of ['request.headers', 'request.headers[]', 'source.ips', 'request.auth.claims', 'destination.labels[app]', '', 'Source.IP']) expect(typeof parseConditionKey(k), k).toBe('string');
  });

  it('checks value formats per key, empty conditions, empty sources and operations, IP blocks and ports', () => {
    const r = check(ap([
      '  rules:',
      '    - from: [{source: {ipBlocks: [10.0.0.0/33], remoteIpBlocks: [not-an-ip]}}, {source: {}}]',
      '      to: [{operation: {ports: ["70000"], paths: ["/a*b"]}}, {operation: {}}]',
      '      when:',
      '        - {key: source.ip, values: [1.2.3]}',
      '        - {key: destination.port, notValues: [http]}',
      '        - {key: connection.sni}',
      '',
    ].join('\n')));
    expect(r.rejected).toEqual(['AuthorizationPolicy/default/p']);
    expect(r.lines.map((l) => l.replace(/^p\.yaml:\d+: AuthorizationPolicy default\/p: /, ''))).toEqual([
      'spec.rules[0].from[0].source.ipBlocks[0]: "10.0.0.0/33" has an invalid prefix length',
      'spec.rules[0].from[0].source.remoteIpBlocks[0]: "not-an-ip" is not an IP address or CIDR block',
      'spec.rules[0].from[1].source: `from.source` must set at least one field',
      'spec.rules[0].to[0].operation.ports[0]: "70000" is not a port number (1-65535)',
      'spec.rules[0].to[0].operation.paths[0]: "/a*b": "*" is allowed only alone, as a prefix or as a suffix',
      'spec.rules[0].to[1].operation: `to.operation` must set at least one field',
      'spec.rules[0].when[0].values[0]: source.ip: "1.2.3" is not an IP address or CIDR block',
      'spec.rules[0].when[1].notValues[0]: destination.port: "http" is not a port number (1-65535)',
      'spec.rules[0].when[2]: at least one of values or notValues must be set for key "connection.sni"',
    ]);
  });

  it('refuses CUSTOM clearly and selector together with targetRef', () => {
    const r = check(ap('  selector: {matchLabels: {app: a}}\n  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}\n  action: CUSTOM\n  provider: {name: ext}\n  rules: [{to: [{operation: {paths: [/x]}}]}]\n'));
    expect(r.lines).toEqual([
      expect.stringContaining('spec.targetRef: only one of selector, targetRef or targetRefs can be set'),
      expect.stringContaining('spec.action: action CUSTOM (external authorization) is not supported by tsmesh; requests its rules match are denied'),
    ]);
  });

  it('an experimental key is accepted with a warning saying how it is handled', () => {
    const r = check(ap('  action: DENY\n  rules: [{when: [{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"]}]}]\n'));
    expect(r.rejected).toEqual([]);
    expect(r.lines).toEqual([expect.stringMatching(/^warning: .*a DENY rule ignores it \(and denies more\)/)]);
  });
});

describe('security validation: RequestAuthentication and PeerAuthentication', () => {
  it('checks issuer, jwksUri, inline JWKS, header names and duplicate claim headers', () => {
    const r = check([
      'apiVersion: security.istio.io/v1', 'kind: RequestAuthentication', 'metadata: {name: ra, namespace: default}', 'spec:', '  jwtRules:',
      '    - issuer: ""', '      jwksUri: ftp://keys.example.com/jwks', '      jwks: "{not json"',
      '      fromHeaders: [{name: "bad header"}]',
      '      outputClaimToHeaders: [{header: x-sub, claim: sub}, {header: X-Sub, claim: iss}, {header: host, claim: aud}]', '',
    ].join('\n'));
    expect(r.lines.map((l) => l.replace(/^p\.yaml:\d+: RequestAuthentication default\/ra: /, ''))).toEqual([
      'spec.jwtRules[0].issuer: issuer is required',
      'spec.jwtRules[0].jwksUri: "ftp://keys.example.com/jwks" is not an http or https URL with a host',
      expect.stringMatching(/^spec\.jwtRules\[0\]\.jwks: not JSON: /),
      'spec.jwtRules[0].fromHeaders[0].name: must be an HTTP header name',
      'spec.jwtRules[0].outputClaimToHeaders[1].header: header "X-Sub" is set from two claims',
      'spec.jwtRules[0].outputClaimToHeaders[2].header: "host" cannot be set from a claim',
    ]);
  });

  it('PeerAuthentication: portLevelMtls needs a non-empty selector; port 0 is refused', () => {
    const r = check('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa, namespace: default}\nspec:\n  selector: {matchLabels: {}}\n  portLevelMtls: {"0": {mode: DISABLE}}\n');
    expect(r.rejected).toEqual(['PeerAuthentication/default/pa']);
    expect(r.lines.join('\n')).toMatch(/portLevelMtls needs a selector with at least one label/);
    expect(r.lines.join('\n')).toMatch(/spec\.portLevelMtls\.0: /);
  });
});

describe('security kinds: every field checked against Istio\'s API', () => {
  it('an unknown field anywhere in AuthorizationPolicy, PeerAuthentication or RequestAuthentication is refused, naming it', () => {
    const cases: [string, string, RegExp][] = [
      ['AuthorizationPolicy', 'spec:\n  rules: [{to: [{operation: {path: [/x]}}]}]\n', /spec\.rules\[0\]\.to\[0\]\.operation\.path: unknown field "path"/],
      ['AuthorizationPolicy', 'spec:\n  selector: {matchLabel: {app: a}}\n', /spec\.selector\.matchLabel: unknown field "matchLabel"/],
      ['AuthorizationPolicy', 'spec:\n  rules: [{from: [{source: {principal: [a]}}]}]\n', /spec\.rules\[0\]\.from\[0\]\.source\.principal: unknown field "principal"/],
      ['AuthorizationPolicy', 'spec:\n  rules: [{when: [{key: source.ip, value: [1.2.3.4]}]}]\n', /spec\.rules\[0\]\.when\[0\]\.value: unknown field "value"/],
      ['AuthorizationPolicy', 'spec:\n  action: REJECT\n', /spec\.action: /],
      ['PeerAuthentication', 'spec:\n  mtls: {mod: STRICT}\n', /spec\.mtls\.mod: unknown field "mod"/],
      ['PeerAuthentication', 'spec:\n  mtls: {mode: STRICTER}\n', /spec\.mtls\.mode: /],
      ['RequestAuthentication', 'spec:\n  jwtRules: [{issuer: a, jwksUrl: "https://x/jwks"}]\n', /spec\.jwtRules\[0\]\.jwksUrl: unknown field "jwksUrl"/],
      // jwks_uri is the older spelling Istio's API still has: accepted, and its URL checked like jwksUri's.
      ['RequestAuthentication', 'spec:\n  jwtRules: [{issuer: a, jwks_uri: "ftp://x/jwks"}]\n', /spec\.jwtRules\[0\]\.jwks_uri: "ftp:\/\/x\/jwks" is not an http or https URL/],
    ];
    for (const [kind, spec, want] of cases) {
      const r = check(`apiVersion: security.istio.io/v1\nkind: ${kind}\nmetadata: {name: p, namespace: default}\n${spec}`);
      expect(r.rejected, `${kind} ${spec}`).toEqual([`${kind}/default/p`]);
      expect(r.lines.join('\n'), `${kind} ${spec}`).toMatch(want);
    }
  });
});
