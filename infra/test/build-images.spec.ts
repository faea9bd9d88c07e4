// build-images.sh's command lines, with a stand-in docker CLI that records them (it has buildx, as
// Docker Desktop and current Docker Engine do; this machine's engine has none): images are built
// without provenance/SBOM attestations, which `kind load docker-image` cannot import from Docker's
// containerd image store.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'build-images-argv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('build-images.sh (stand-in docker with buildx)', () => {
  it('builds every image without attestations, one target and tag each', () => {
    const docker = join(dir, 'docker');
    writeFileSync(docker, `#!/bin/sh\necho "$*" >> ${join(dir, 'log')}\nexit 0\n`);
    chmodSync(docker, 0o755);
    const r = spawnSync('bash', [join(root, 'infra/docker/build-images.sh'), '--tag', 't1', 'proxy', 'callme'], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, DOCKER: docker, TSMESH_IMAGES_LOCK: join(dir, 'lock') },
    });
    expect(r.status, r.stderr).toBe(0);
    const builds = readFileSync(join(dir, 'log'), 'utf8').split('\n').filter((l) => l.startsWith('build '));
    expect(builds).toHaveLength(2);
    for (const [i, app] of ['proxy', 'callme'].entries()) {
      expect(builds[i]).toContain('--provenance=false --sbom=false');
      expect(builds[i]).toContain(`--target ${app} -t tsmesh/${app}:t1`);
    }
  });
});
