import { describe, expect, it } from 'vitest';
import { derToPem, joinPem, parsePemBlocks, pemToDer, splitPemCertificates } from './pem';
import { InvalidPemError } from './errors';

describe('PEM helpers', () => {
  const a = derToPem(Buffer.from('first certificate bytes'), 'CERTIFICATE');
  const b = derToPem(Buffer.alloc(100, 7), 'CERTIFICATE');
  const k = derToPem(Buffer.from('key'), 'PRIVATE KEY');

  it('splits a bundle into certificates, in order, skipping other blocks', () => {
    const bundle = joinPem([a, k, b.trimEnd()]);
    expect(splitPemCertificates(bundle)).toEqual([a, b]);
    expect(parsePemBlocks(bundle).map((x) => x.label)).toEqual(['CERTIFICATE', 'PRIVATE KEY', 'CERTIFICATE']);
    expect(pemToDer(bundle, 'PRIVATE KEY').toString()).toBe('key');
  });

  it('wraps base64 at 64 columns', () => {
    expect(b.split('\n').every((l) => l.length <= 64)).toBe(true);
  });

  it('refuses text with no block or bad base64, with a stable code', () => {
    expect(() => splitPemCertificates('hello')).toThrow(InvalidPemError);
    expect(() => parsePemBlocks('-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----')).toThrow(/not valid base64/);
    try {
      splitPemCertificates(k);
    } catch (err) {
      expect((err as InvalidPemError).code).toBe('CERTS_INVALID_PEM');
    }
  });
});
