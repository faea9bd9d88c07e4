import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRD_DIR, renderCrdFiles } from '../src/render-crds';
import { structuralErrors } from '../src/validate';
import { updateGolden, writeGolden } from './golden';

describe('CRDs', () => {
  it('the files in infra/k8s/base/crds are up to date with infra/src/crds (UPDATE_GOLDEN=1 regenerates)', () => {
    for (const [file, text] of Object.entries(renderCrdFiles())) {
      if (updateGolden) writeGolden(join(CRD_DIR, file), text);
      else expect(readFileSync(join(CRD_DIR, file), 'utf8'), `${file} is stale: run nx run infra:generate`).toBe(text);
    }
  });

  it('structural-schema checks catch untyped fields', () => {
    expect(structuralErrors({ type: 'object', properties: { a: {}, b: { type: 'array' } } }, 'x')).toEqual([
      'x.a: type is required in a structural schema',
      'x.b: arrays need items',
    ]);
  });
});
