/** `tsmesh demo`: the whole mesh on the local runtime. */
import { spawnSync } from 'node:child_process';

/** Runs the demo entry of the repository (`npm run demo`), which installs what it needs first. */
export async function runDemo(): Promise<number> {
  const r = spawnSync('npm', ['run', 'demo'], { stdio: 'inherit' });
  return r.status ?? 1;
}
