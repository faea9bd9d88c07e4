/** Where the workspace is: the directory with nx.json above this module or the working directory. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workspace root (where `dist/apps/<app>/main.js` are): the first directory holding nx.json above this file or the cwd, else the cwd. */
export function findWorkspaceRoot(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const s of starts) {
    let d = s;
    for (;;) {
      if (existsSync(join(d, 'nx.json'))) return d;
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  return process.cwd();
}
