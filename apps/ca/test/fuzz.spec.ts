/**
 * Fuzzing what reaches the CA from outside: the CSR and the service-account token of
 * CreateCertificate. Real inputs kept in testdata/fuzz (CSRs made by libs/certs and by openssl
 * with RSA and EC keys, a token minted as the local runtime mints them) are mutated with a fixed seed — bit flips,
 * interesting bytes, ASN.1 length and tag edits, insertions, deletions, truncation, PEM and
 * base64 damage, JWT segment swaps, `alg: none`, forged claims — and sent through the CA's
 * CreateCertificate logic; a bounded share also over real gRPC/TLS.
 *
 * The oracle: every refusal is one of the CA's named errors (a clear gRPC status and an
 * `x-tsmesh-error-code`, never INTERNAL); nothing crashes; a certificate is issued only when the
 * mutated input still means exactly the original (a CSR that openssl verifies, for the token's
 * identity and the CSR's own key; a token whose decoded segments equal the original's), and then
 * for the token's identity alone.
 *
 * `npm test` runs a bounded count with seed 0x7c5a11; `TSMESH_FUZZ_LONG=1` runs 50 times more,
 * `TSMESH_FUZZ_SEED=<n>` picks another seed. A failure prints the seed, case number and input: a
 * crash found this way becomes a case in ca.spec.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { CertsError, parseCertificate, type CertificateRequest } from '@tsmesh/certs';
import type { StartedCa } from '../src/app';
import { JwtAuthenticator } from '../src/auth/jwt';
import { CaMetrics } from '../src/metrics';
import { CertificateService } from '../src/service';
import { clientFor, startTestCa, tempDir } from './helpers';

const LONG = process.env.TSMESH_FUZZ_LONG === '1';
const SEED = Number(process.env.TSMESH_FUZZ_SEED ?? 0x7c5a11);
const CSR_CASES = LONG ? 20_000 : 400;
const TOKEN_CASES = LONG ? 20_000 : 400;
const GRPC_CASES = LONG ? 2_000 : 40;
const ID = 'spiffe://cluster.local/ns/default/sa/callme';
/** Real CSRs (libs/certs P-256 with and without SAN; openssl RSA 2048 with SAN, P-256 with CN) and a token for default/callme valid until 2100, signed by the key of jwks.json. */
const FIXTURES = fileURLToPath(new URL('./testdata/fuzz/', import.meta.url));

/** A small seeded PRNG (mulberry32): the same seed gives the same cases. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0xff, 0x30, 0x02, 0x03, 0x04, 0x05, 0x06, 0xa0, 0x0c, 0x13, 0x16];

/** One mutation of DER bytes; returns the new bytes and what was done. */
function mutateDer(rng: Rng, der: Buffer): { bytes: Buffer; how: string } {
  const b = Buffer.from(der);
  const at = rng.int(Math.max(1, b.length));
  switch (rng.int(9)) {
    case 0: b[at] ^= 1 << rng.int(8); return { bytes: b, how: `flip bit at ${at}` };
    case 1: b[at] = rng.pick(INTERESTING); return { bytes: b, how: `byte ${at} = ${b[at]}` };
    case 2: {
      // An ASN.1 length: the byte after a tag.
      const tags = [...b.keys()].filter((i) => i + 1 < b.length && [0x30, 0x31, 0x02, 0x03, 0x04, 0x06, 0xa0, 0x0c, 0x13].includes(b[i]));
      const t = tags.length ? rng.pick(tags) : at;
      const v = rng.pick([0x00, 0x7f, 0x80, 0x81, 0x84, 0xff, (b[t + 1] + 1) & 0xff, (b[t + 1] - 1) & 0xff]);
      b[t + 1] = v;
      return { bytes: b, how: `length after tag at ${t} = ${v}` };
    }
    case 3: return { bytes: b.subarray(0, at), how: `truncate to ${at}` };
    case 4: {
      const n = 1 + rng.int(16);
      return { bytes: Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: n }, () => rng.int(256))), b.subarray(at)]), how: `insert ${n} random at ${at}` };
    }
    case 5: {
      const n = 1 + rng.int(32);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + n)]), how: `delete ${n} at ${at}` };
    }
    case 6: {
      const n = 1 + rng.int(64);
      return { bytes: Buffer.concat([b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n)]), how: `duplicate ${n} at ${at}` };
    }
    case 7: {
      // A tag changed for another (INTEGER ↔ OCTET STRING ↔ SEQUENCE ...).
      const tags = [...b.keys()].filter((i) => [0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0xa0].includes(b[i]));
      const t = tags.length ? rng.pick(tags) : at;
      b[t] = rng.pick([0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0xa0, 0x1f, 0x00]);
      return { bytes: b, how: `tag at ${t} = ${b[t]}` };
    }
    default: {
      const n = 1 + rng.int(8);
      for (let i = 0; i < n; i++) b[rng.int(b.length || 1)] = rng.int(256);
      return { bytes: b, how: `${n} random bytes` };
    }
  }
}

const pem = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
const derOf = (p: string) => Buffer.from(p.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/** One mutated CSR: mostly DER mutations (so the input reaches the ASN.1 parser), sometimes PEM damage. */
function mutateCsr(rng: Rng, seed: string): { csr: string; how: string } {
  const r = rng.int(10);
  if (r < 7) {
    let der: Buffer = derOf(seed);
    const hows: string[] = [];
    for (let i = 0, n = 1 + rng.int(3); i < n; i++) {
      const m = mutateDer(rng, der);
      der = m.bytes;
      hows.push(m.how);
    }
    return { csr: pem(der), how: hows.join(', ') };
  }
  switch (rng.int(8)) {
    case 0: return { csr: seed.replace('CERTIFICATE REQUEST', rng.pick(['CERTIFICATE', 'PRIVATE KEY', 'NEW CERTIFICATE REQUEST', ''])), how: 'PEM label' };
    case 1: return { csr: seed.replace(/\n[^\n]+\n/, '\n'), how: 'a base64 line removed' };
    case 2: { const i = 40 + rng.int(seed.length - 80); return { csr: seed.slice(0, i) + rng.pick(['*', '\u0000', '=', '-----', '\u00e9', '%']) + seed.slice(i), how: `junk at ${i}` }; }
    case 3: return { csr: seed + seed, how: 'two PEM blocks' };
    case 4: return { csr: seed.replace(/-----END[^\n]+\n?$/, ''), how: 'no END line' };
    case 5: return { csr: derOf(seed).toString('base64'), how: 'base64 without PEM armour' };
    case 6: return { csr: derOf(seed).toString('latin1'), how: 'raw DER as text' };
    default: return { csr: rng.pick(['', ' ', '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----', '\u0000'.repeat(100)]), how: 'degenerate' };
  }
}

const b64u = (s: string) => Buffer.from(s).toString('base64url');
const decodeSegments = (t: string) => t.split('.').map((s) => Buffer.from(s, 'base64url').toString('hex'));

/** One mutated token. */
function mutateToken(rng: Rng, token: string): { token: string; how: string } {
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const flipChar = (seg: string) => {
    const i = rng.int(seg.length);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    return seg.slice(0, i) + rng.pick([...alphabet]) + seg.slice(i + 1);
  };
  switch (rng.int(16)) {
    case 0: return { token: `${flipChar(h)}.${p}.${s}`, how: 'header char' };
    case 1: return { token: `${h}.${flipChar(p)}.${s}`, how: 'payload char' };
    case 2: return { token: `${h}.${p}.${flipChar(s)}`, how: 'signature char' };
    case 3: return { token: `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`, how: 'alg none' };
    case 4: return { token: `${b64u(JSON.stringify({ ...header, alg: rng.pick(['HS256', 'RS256', 'ES384', 'EdDSA', 'none', 'ES256K']) }))}.${p}.${s}`, how: 'alg changed' };
    case 5: return { token: `${h}.${b64u(JSON.stringify({ ...payload, sub: 'system:serviceaccount:kube-system:admin', 'kubernetes.io': { namespace: 'kube-system', serviceaccount: { name: 'admin' } } }))}.${s}`, how: 'claims forged' };
    case 6: return { token: `${h}.${b64u(JSON.stringify({ ...payload, exp: 9_999_999_999 }))}.${s}`, how: 'exp extended' };
    case 7: return { token: `${h}.${b64u(JSON.stringify({ ...payload, aud: rng.pick([[], 'istio-ca ', ['ISTIO-CA'], null, 1]) }))}.${s}`, how: 'aud changed' };
    case 8: return { token: token.slice(0, rng.int(token.length)), how: 'truncated' };
    case 9: return { token: rng.pick([`${h}.${p}`, `${h}..${s}`, `${h}.${p}.${s}.${s}`, `.${p}.${s}`, `${p}.${h}.${s}`]), how: 'segments' };
    case 10: return { token: `${h}.${b64u(rng.pick(['null', '[]', '"x"', '{"sub":', '{"sub":"system:serviceaccount:default:callme","sub":"x"}', '1e400']))}.${s}`, how: 'payload not a claims object' };
    case 11: return { token: `${b64u(rng.pick(['null', '{', '{"alg":"ES256","crit":["x"]}', '{"alg":"ES256","kid":{"a":1}}', '{"alg":"ES256","b64":false,"crit":["b64"]}', '{"alg":"ES256","jku":"http://127.0.0.1:1/"}']))}.${p}.${s}`, how: 'header damaged' };
    // Only what gRPC metadata can carry (printable ASCII): other bytes never reach the CA.
    case 12: return { token: token + rng.pick(['=', '==', ' ', '~', '%00', '.']), how: 'suffix' };
    case 13: return { token: 'x'.repeat(1 + rng.int(30_000)), how: 'long junk' };
    case 14: return { token: `${h}.${p}.${Buffer.from(s, 'base64url').subarray(0, 32).toString('base64url')}`, how: 'short signature' };
    default: {
      // Several character flips anywhere.
      let t = token;
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) {
        const j = rng.int(t.length);
        t = t.slice(0, j) + String.fromCharCode(33 + rng.int(94)) + t.slice(j + 1);
      }
      return { token: t, how: 'random chars' };
    }
  }
}

describe(`CA input fuzzing (seed ${SEED}${LONG ? ', long run' : ''})`, () => {
  const tmp = tempDir('tsmesh-ca-fuzz-');
  let ca: StartedCa;
  let service: CertificateService;
  let validToken: string;
  const seeds: string[] = [];

  beforeAll(async () => {
    // Fixed inputs (testdata/fuzz): the same seed gives the same cases on every machine.
    for (const f of ['p256-spiffe.csr', 'p256-nosan.csr', 'openssl-rsa2048-spiffe.csr', 'openssl-p256-cn.csr']) seeds.push(readFileSync(join(FIXTURES, f), 'utf8'));
    validToken = readFileSync(join(FIXTURES, 'token.jwt'), 'utf8').trim();
    ca = await startTestCa(['--jwks', join(FIXTURES, 'jwks.json'), '--root-file', join(tmp.dir, 'root.pem')]);
    const auth = new JwtAuthenticator({ jwksFile: join(FIXTURES, 'jwks.json'), audiences: ['istio-ca'] });
    service = new CertificateService(ca.issuer, auth, { trustDomain: 'cluster.local', defaultTtlSeconds: 3600, maxTtlSeconds: 86_400 }, new CaMetrics(), pino({ level: 'silent' }));
  }, 60_000);
  afterAll(async () => {
    await ca?.close();
    tmp.cleanup();
  });

  const md = (token: string) => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${token}`);
    return m;
  };

  /** Runs one request; returns 'issued' (after checking the certificate) or the error code. */
  async function run(csr: string, token: string, label: string, original: { csr?: string; token?: string }): Promise<string> {
    let chain: string[];
    try {
      chain = await service.createCertificate(md(token), { csr, validity_duration: 0 } as CertificateRequest);
    } catch (err) {
      if (!(err instanceof CertsError)) throw new Error(`${label}: not a named error (would be INTERNAL): ${(err as Error)?.stack ?? err}`);
      expect(err.grpcCode, label).not.toBe(status.INTERNAL);
      expect(err.grpcCode, label).not.toBe(status.OK);
      return err.code;
    }
    // Issued: only for an input that still means the original, and only for the token's identity.
    const cert = parseCertificate(chain[0], 'issued leaf');
    expect(cert.uris, label).toEqual([ID]);
    if (original.token !== undefined) expect(decodeSegments(token), `${label}: a changed token was accepted`).toEqual(decodeSegments(original.token));
    if (original.csr !== undefined) {
      // openssl must find the mutated CSR well formed and its signature good.
      let verdict = '';
      try {
        verdict = execFileSync('openssl', ['req', '-noout', '-verify'], { input: csr, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (err) {
        verdict = `openssl refuses it: ${(err as { stderr?: string }).stderr ?? err}`;
      }
      expect(verdict, `${label}: issued for a CSR`).not.toMatch(/fail|refuses/i);
    }
    return 'issued';
  }

  it(`${CSR_CASES} mutated CSRs: refused with a named error, or issued only when still valid`, async () => {
    const rng = new Rng(SEED);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < CSR_CASES; i++) {
      const seed = seeds[i % seeds.length];
      const { csr, how } = mutateCsr(rng, seed);
      const code = await run(csr, validToken, `seed ${SEED} CSR case ${i} (${how}): ${JSON.stringify(csr.slice(0, 200))}`, { csr: seed });
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
    // The mutations reach the parser: most are refused as CSRs, none is an unnamed failure.
    expect(outcomes.get('CERTS_INVALID_CSR') ?? 0).toBeGreaterThan(CSR_CASES / 2);
    for (const code of outcomes.keys()) expect(['issued', 'CERTS_INVALID_CSR', 'CERTS_UNSUPPORTED_KEY', 'CERTS_IDENTITY_MISMATCH']).toContain(code);
  }, LONG ? 3_600_000 : 120_000);

  it(`${TOKEN_CASES} mutated tokens: refused as unauthenticated, never accepted when changed`, async () => {
    const rng = new Rng(SEED ^ 0x5eed);
    const csr = seeds[0];
    const outcomes = new Map<string, number>();
    for (let i = 0; i < TOKEN_CASES; i++) {
      const { token, how } = mutateToken(rng, validToken);
      const code = await run(csr, token, `seed ${SEED} token case ${i} (${how}): ${JSON.stringify(token.slice(0, 300))}`, { token: validToken });
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
    for (const code of outcomes.keys()) expect(['issued', 'CA_TOKEN_INVALID', 'CA_TOKEN_EXPIRED', 'CA_TOKEN_MISSING', 'CA_NOT_SERVICE_ACCOUNT']).toContain(code);
    expect(outcomes.get('issued') ?? 0).toBeLessThan(TOKEN_CASES / 10);
  }, LONG ? 3_600_000 : 120_000);

  it(`${GRPC_CASES} mutated requests over gRPC/TLS: a clear status and x-tsmesh-error-code each, and the CA keeps serving`, async () => {
    const rng = new Rng(SEED ^ 0x9e3779b9);
    const client = clientFor(ca);
    try {
      const issuedBefore = ca.metrics.issued;
      let issued = 0;
      for (let i = 0; i < GRPC_CASES; i++) {
        const mutateBoth = rng.int(2) === 0;
        const { csr } = mutateBoth ? mutateCsr(rng, rng.pick(seeds)) : { csr: seeds[0] };
        const { token } = mutateToken(rng, validToken);
        try {
          await client.createCertificate({ csr, token });
          issued++;
        } catch (e) {
          const err = e as ServiceError;
          expect([status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED], `gRPC case ${i}: ${err.message}`).toContain(err.code);
          if (err.code !== status.RESOURCE_EXHAUSTED) expect(err.metadata.get('x-tsmesh-error-code'), `gRPC case ${i}`).toHaveLength(1);
        }
      }
      expect(ca.metrics.issued - issuedBefore).toBe(issued);
      const chain = await client.createCertificate({ csr: seeds[0], token: validToken });
      expect(parseCertificate(chain[0], 'leaf').uris).toEqual([ID]);
    } finally {
      client.close();
    }
  }, LONG ? 3_600_000 : 120_000);
});
