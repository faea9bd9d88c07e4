/** How the image runs the proxy (apps/proxy/launch.json): the benchmarks start it the same way by default. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const file = resolve(dirname(fileURLToPath(import.meta.url)), '../../apps/proxy/launch.json');

export const LAUNCH = JSON.parse(readFileSync(file, 'utf8')) as { nodeFlags: string[]; env: Record<string, string> };

/** The launch environment as `NAME=value` words (the benchmarks' `--proxy-env` syntax). */
export function launchEnv(): string {
  return Object.entries(LAUNCH.env).map(([k, v]) => `${k}=${v}`).join(' ');
}
