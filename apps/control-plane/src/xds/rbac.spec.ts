import { describe, expect, it } from 'vitest';
import { rbacFor, rulePolicy } from './rbac';

describe('AuthorizationPolicy conditions on request.auth', () => {
  it('turns request.auth.claims[...] into istio_authn metadata list matches (nested claims too)', () => {
    const p = rulePolicy({ when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }, { key: 'request.auth.claims[org][team]', values: ['mesh'] }] }, 'http')!;
    expect(p.principals).toEqual([{
      and_ids: {
        ids: [
          { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'admins' } } } } } },
          { metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'org' }, { key: 'team' }], value: { list_match: { one_of: { string_match: { exact: 'mesh' } } } } } },
        ],
      },
    }]);
    expect(p.permissions).toEqual([{ any: true }]);
  });

  it('matches request.auth.audiences and presenter as strings', () => {
    const p = rulePolicy({ when: [{ key: 'request.auth.audiences', values: ['todolist'] }] }, 'http')!;
    expect(p.principals).toEqual([{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.audiences' }], value: { string_match: { exact: 'todolist' } } } }]);
  });
});

describe('fail-closed translation (Istio: a DENY policy never becomes allow-all)', () => {
  const policy = (action: string, rules: unknown) => ({ name: 'p', namespace: 'ns', spec: { action, rules } as never, creation: 0, resource: {} as never });

  it('an unknown condition key is ignored in a DENY rule (it denies more) and skips an ALLOW rule', () => {
    const rule = { to: [{ operation: { paths: ['/api/version'] } }], when: [{ key: 'request.header[x-bad]', values: ['1'] }] };
    const problems: string[] = [];
    expect(rulePolicy(rule, 'http', 'DENY', problems)).toEqual({ principals: [{ any: true }], permissions: [{ url_path: { path: { exact: '/api/version' } } }] });
    expect(problems.join()).toMatch(/unknown condition key "request.header\[x-bad\]".*did you mean request.headers\[x-bad\]/);
    expect(rulePolicy(rule, 'http', 'ALLOW')).toBeNull();
  });

  it('HTTP-only fields on a TCP port: DENY keeps the rest of the rule, ALLOW skips it', () => {
    const rule = { from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }], to: [{ operation: { methods: ['GET'], ports: ['9000'] } }] };
    expect(rulePolicy(rule, 'tcp', 'DENY')).toEqual({
      principals: [{ direct_remote_ip: { address_prefix: '10.0.0.0', prefix_len: { value: 8 } } }],
      permissions: [{ destination_port: 9000 }],
    });
    expect(rulePolicy(rule, 'tcp', 'ALLOW')).toBeNull();
    expect(rulePolicy({ when: [{ key: 'request.headers[x-user]', values: ['evil'] }] }, 'tcp', 'DENY')).toEqual({ principals: [{ any: true }], permissions: [{ any: true }] });
  });

  it('malformed values (bad CIDR, non-string, not a list) never widen an ALLOW and never narrow a DENY', () => {
    const rule = { from: [{ source: { ipBlocks: ['10.0.0.300/8', 42] } }], to: [{ operation: { paths: '/admin' } }] };
    expect(rulePolicy(rule, 'http', 'ALLOW')).toBeNull();
    expect(rulePolicy(rule, 'http', 'DENY')).toEqual({ principals: [{ any: true }], permissions: [{ any: true }] });
    expect(rulePolicy('not a rule', 'http', 'DENY')).toEqual({ principals: [{ any: true }], permissions: [{ any: true }] });
  });

  it('rbacFor: AUDIT → LOG, CUSTOM enforced as DENY, problems reported per policy', () => {
    const problems = new Map<string, string[]>();
    const rb = rbacFor([
      policy('AUDIT', [{ to: [{ operation: { paths: ['/audit'] } }] }]),
      { ...policy('CUSTOM', [{ to: [{ operation: { paths: ['/ext'] } }] }]), name: 'ext' },
      { ...policy('ALLOW', [{ when: [{ key: 'source.ipp', values: ['1.2.3.4'] }] }]), name: 'allow' },
      { ...policy('DENY', 'oops'), name: 'deny' },
    ], 'http', problems);
    expect(rb.audit).toEqual({ action: 'LOG', policies: { 'ns[ns]-policy[p]-rule[0]': { principals: [{ any: true }], permissions: [{ url_path: { path: { exact: '/audit' } } }] } } });
    expect(Object.keys((rb.deny as { policies: object }).policies).sort()).toEqual(['ns[ns]-policy[deny]-rule[0]', 'ns[ns]-policy[ext]-rule[0]']);
    expect(rb.deny).toMatchObject({ action: 'DENY', policies: { 'ns[ns]-policy[deny]-rule[0]': { principals: [{ any: true }], permissions: [{ any: true }] } } });
    // The ALLOW policy is still present with no rule: it allows nothing (never allow-all).
    expect(rb.allow).toEqual({ action: 'ALLOW', policies: {} });
    expect([...problems.keys()].sort()).toEqual(['ns/allow', 'ns/deny']);
  });
});
