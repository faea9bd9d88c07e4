/**
 * Stand-in command-line tools for tests of code that runs kind, kubectl or docker where none can
 * run: each tool a shell script in a temporary directory put first on (or made the whole of) PATH.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A set of stand-in tools on PATH; {@link StandInTools.restore} puts PATH back and removes them. */
export class StandInTools {
  private readonly savedPath = process.env.PATH;
  private readonly dirs: string[] = [];

  /**
   * Makes a new directory of tools and puts it on PATH: `tools` maps a name to its script body
   * (`#!/bin/sh` is added unless the body starts with `#!`). `keepPath` keeps the original PATH after it
   * (else the directory is all of PATH, so a real tool of the same name cannot answer). Returns the directory.
   */
  use(tools: Record<string, string>, opts: { keepPath?: boolean } = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'stand-in-tools-'));
    this.dirs.push(dir);
    for (const [name, body] of Object.entries(tools)) {
      writeFileSync(join(dir, name), body.startsWith('#!') ? body : `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    }
    process.env.PATH = opts.keepPath ? `${dir}:${this.savedPath}` : dir;
    return dir;
  }

  /** PATH as it was; the tool directories removed. */
  restore(): void {
    process.env.PATH = this.savedPath;
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
