/** Picks the cluster driver from `E2E_DRIVER` (`local`, the default, or `kind`). */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KindDriver } from './kind';
import { LocalDriver } from './local';
import type { MeshDriver } from './types';

export type { MeshDriver, ExecOutput } from './types';
export { KindDriver, KindCli, renderKustomization } from './kind';
export { LocalDriver } from './local';

/** The workspace root. */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The driver named by `E2E_DRIVER`. */
export function driverFromEnv(log?: (line: string) => void): MeshDriver {
  const name = process.env.E2E_DRIVER ?? 'local';
  if (name === 'kind') return new KindDriver(ROOT);
  if (name === 'local') return new LocalDriver(ROOT, log);
  throw new Error(`E2E_DRIVER="${name}": expected local or kind`);
}
