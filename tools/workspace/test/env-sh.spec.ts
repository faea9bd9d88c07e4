// tools/env.sh is meant to be sourced by a user's own shell: a failure must return, not exit.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const envSh = join(root, 'tools/env.sh');

/** A PATH where `node` reports Node 18 and `npm` cannot install anything, so env.sh must fail. */
function brokenNodePath(): { path: string; fakeRoot: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-env-'));
  writeFileSync(join(dir, 'node'), '#!/bin/sh\n[ "$1" = -v ] && echo v18.0.0 || echo 18\n');
  writeFileSync(join(dir, 'npm'), '#!/bin/sh\necho "npm: offline" >&2\nexit 1\n');
  chmodSync(join(dir, 'node'), 0o755);
  chmodSync(join(dir, 'npm'), 0o755);
  return { path: `${dir}:/usr/bin:/bin`, fakeRoot: mkdtempSync(join(tmpdir(), 'tsmesh-env-root-')) };
}

describe('tools/env.sh', () => {
  it('sourced, a failure returns 1 with the reason and leaves the shell running', () => {
    const { path, fakeRoot } = brokenNodePath();
    const r = spawnSync('bash', ['-c', `source "${envSh}"; echo "shell still running, status $?"`], {
      env: { PATH: path, ROOT: fakeRoot, HOME: fakeRoot }, encoding: 'utf8',
    });
    expect(r.stdout).toContain('shell still running, status 1');
    expect(r.stderr).toContain('could not provide Node.js 24 (have v18.0.0)');
  });

  it('run as a script, a failure exits 1', () => {
    const { path, fakeRoot } = brokenNodePath();
    const r = spawnSync('bash', [envSh], { env: { PATH: path, ROOT: fakeRoot, HOME: fakeRoot }, encoding: 'utf8' });
    expect(r.status).toBe(1);
  });

  it('sourced on a working checkout, puts Node 24 and node_modules/.bin on PATH and keeps the shell options', () => {
    const out = execFileSync('bash', ['-c', `set +e; source "${envSh}" && echo "rc=$? node=$(node -p process.versions.node.split\\(\\".\\"\\)[0]) nx=$(command -v nx) opts=$-"`], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }, encoding: 'utf8', cwd: root,
    });
    expect(out).toMatch(/rc=0 node=(\d+)/);
    expect(Number(/node=(\d+)/.exec(out)![1])).toBeGreaterThanOrEqual(24);
    expect(out).toContain(join(root, 'node_modules/.bin/nx'));
    expect(out).not.toMatch(/opts=\S*e/);
  });
});
