import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** True when generated files are being regenerated (`UPDATE_GOLDEN=1`). */
export const updateGolden = process.env.UPDATE_GOLDEN === '1';

/** Writes a regenerated file. */
export function writeGolden(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
