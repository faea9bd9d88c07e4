import { describe, expect, it } from 'vitest';
import { rulePolicy } from './rbac';

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
