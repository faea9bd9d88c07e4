// Runs before every project's tests: the Envoy message code that @tsmesh/xds imports is generated
// from the protos at build time (libs/xds/scripts/generate-protos.mjs; a no-op when up to date).
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(process.execPath, [resolve(root, 'libs/xds/scripts/generate-protos.mjs')], { stdio: 'inherit' });
}
