import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JwtAuthenticator } from './jwt';
import { tempDir, tokenIssuer } from '../../test/helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('JwtAuthenticator', () => {
  it('picks up a rotated JWKS file and keeps the last good keys when the file breaks', async () => {
    const a = await tokenIssuer(tmp.dir, 'key-a');
    const b = await tokenIssuer(tmp.dir, 'key-b');
    const file = join(tmp.dir, 'jwks.json');
    writeFileSync(file, readFileSync(a.jwksFile));
    const errors: string[] = [];
    const auth = new JwtAuthenticator({ jwksFile: file, audiences: ['istio-ca'], onReloadError: (e) => errors.push(e.message) });
    expect(await auth.authenticate(await a.mint())).toEqual({ namespace: 'default', serviceAccount: 'callme', via: 'jwt' });
    await expect(auth.authenticate(await b.mint())).rejects.toMatchObject({ code: 'CA_TOKEN_INVALID' });

    writeFileSync(file, readFileSync(b.jwksFile));
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    (auth as unknown as { checkedAt: number }).checkedAt = 0;
    expect((await auth.authenticate(await b.mint())).serviceAccount).toBe('callme');

    writeFileSync(file, '{ not json');
    utimesSync(file, new Date(), new Date(Date.now() + 20_000));
    (auth as unknown as { checkedAt: number }).checkedAt = 0;
    expect((await auth.authenticate(await b.mint())).serviceAccount).toBe('callme');
    expect(errors[0]).toMatch(/--jwks .*jwks.json/);
  });

  it('refuses a token whose kubernetes.io claims disagree with sub', async () => {
    const a = await tokenIssuer(tmp.dir, 'key-c');
    const auth = new JwtAuthenticator({ jwksFile: a.jwksFile, audiences: ['istio-ca'] });
    const token = await a.mint({ sub: 'system:serviceaccount:default:callme', kubernetesIo: { namespace: 'kube-system', serviceaccount: { name: 'admin' } } });
    await expect(auth.authenticate(token)).rejects.toThrow(/disagree with sub/);
  });
});
