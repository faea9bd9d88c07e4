/** `tsmesh kube-inject`: runs the injector's offline templating (the same code the webhook runs). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Finds the injector entry point: `$TSMESH_INJECTOR` or the built bundle next to this one. */
export function injectorEntry(): string {
  if (process.env.TSMESH_INJECTOR) return process.env.TSMESH_INJECTOR;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'injector', 'main.js'), resolve(here, '../../../dist/apps/injector/main.js'), resolve(here, '../../../../dist/apps/injector/main.js')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`the injector is not built (looked for ${candidates.join(', ')}); run: nx run injector:build`);
  return found;
}

/** Runs `injector kube-inject` with the given arguments, passing its output and exit code through. */
export function kubeInject(args: string[]): number {
  const r = spawnSync(process.execPath, [injectorEntry(), 'kube-inject', ...args], { stdio: 'inherit' });
  return r.status ?? 1;
}
