import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect } from 'vitest';

/** True when golden files are being regenerated (`UPDATE_GOLDEN=1`). */
export const updateGolden = process.env.UPDATE_GOLDEN === '1';

/** Compares `actual` with the golden file, or writes it when `UPDATE_GOLDEN=1`. */
export function expectGolden(file: string, actual: string): void {
  if (updateGolden || !existsSync(file)) {
    if (!updateGolden) throw new Error(`golden file ${file} is missing: run with UPDATE_GOLDEN=1 to create it`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  expect(actual, `differs from ${file} (UPDATE_GOLDEN=1 regenerates it)`).toBe(readFileSync(file, 'utf8'));
}
