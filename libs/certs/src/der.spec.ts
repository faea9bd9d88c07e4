import { describe, expect, it } from 'vitest';
import { derProblem, ecdsaSignatureProblem } from './der';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('strict DER', () => {
  it('accepts DER and names what BER-only encodings break', () => {
    expect(derProblem(hex('30 08 02 01 05 05 00 01 01 ff'))).toBeNull();
    expect(derProblem(hex('30 81 03 02 01 05'))).toMatch(/long-form length 3/);
    expect(derProblem(hex('30 80 02 01 05 00 00'))).toMatch(/indefinite length/);
    expect(derProblem(hex('30 03 02 01 05 00'))).toMatch(/1 bytes after the end/);
    expect(derProblem(hex('30 04 02 02 00 05'))).toMatch(/INTEGER not in its shortest form/);
    expect(derProblem(hex('30 02 02 00'))).toMatch(/empty INTEGER/);
    expect(derProblem(hex('30 03 01 01 01'))).toMatch(/BOOLEAN/);
    expect(derProblem(hex('30 03 05 01 00'))).toMatch(/NULL with content/);
    expect(derProblem(hex('30 05 02 05 01'))).toMatch(/runs past its container/);
    expect(derProblem(hex('23 03 03 01 00'))).toMatch(/constructed universal tag/);
  });

  it('ECDSA signature values: SEQUENCE of two positive minimal INTEGERs, nothing else', () => {
    expect(ecdsaSignatureProblem(hex('30 06 02 01 01 02 01 7f'))).toBeNull();
    expect(ecdsaSignatureProblem(hex('a0 06 02 01 01 02 01 7f'))).toMatch(/not a SEQUENCE/);
    expect(ecdsaSignatureProblem(hex('30 07 02 01 01 02 02 00 7f'))).toMatch(/shortest form/);
    expect(ecdsaSignatureProblem(hex('30 06 02 01 81 02 01 01'))).toMatch(/positive/);
    expect(ecdsaSignatureProblem(hex('30 03 02 01 01'))).toMatch(/r INTEGER, s INTEGER/);
  });
});
