// Rewrites a bundle directory's .js files to pure ASCII: every character above U+007F becomes a
// \uXXXX escape (valid in comments, strings, templates, regular expressions and identifiers).
// V8 keeps a script's source in memory, as one byte per character only when every character
// fits in Latin-1: one arrow in a comment that esbuild keeps would double the resident source
// (the proxy's bundle is 3 MB).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Escapes non-ASCII characters in every .js file directly in `dir`; returns how many files changed. */
export function asciiBundle(dir) {
  let changed = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js'))) {
    const file = join(dir, f);
    const text = readFileSync(file, 'utf8');
    // eslint-disable-next-line no-control-regex
    if (!/[^\x00-\x7f]/.test(text)) continue;
    // eslint-disable-next-line no-control-regex
    writeFileSync(file, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    changed++;
  }
  return changed;
}

// as a command: node tools/ascii-bundle.mjs <dir> [dir ...]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const dir of process.argv.slice(2)) asciiBundle(dir);
}
