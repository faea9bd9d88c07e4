import { describe, expect, it } from 'vitest';
import { unpack } from '@tsmesh/xds';
import { parseConfigYaml, validateConfig } from '@tsmesh/mesh-config';
import { PushContext } from '../model/push-context';
import { jwtFilter } from './jwt';

describe('RequestAuthentication → jwt_authn', () => {
  it('takes the JWKS URL from jwks_uri, the older spelling Istio still accepts', () => {
    const v = validateConfig(parseConfigYaml('apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: default}\nspec:\n  jwtRules: [{issuer: "https://issuer.example.com", jwks_uri: "https://keys.example.com/jwks.json"}]\n', 'ra.yaml').resources);
    expect(v.issues).toEqual([]);
    const push = new PushContext(v.accepted, 't');
    const f = jwtFilter(push, push.requestAuthentications)!;
    const cfg = unpack(f.typed_config as never) as unknown as { providers: Record<string, { remote_jwks?: { http_uri: { uri: string; cluster: string } } }> };
    expect(cfg.providers['origins-0'].remote_jwks?.http_uri).toMatchObject({ uri: 'https://keys.example.com/jwks.json', cluster: 'jwks|keys.example.com' });
  });
});
