/**
 * The proxy keeps only the compiled form of its config: the decoded xDS messages (and the updates
 * that carried them) are unreachable once applied, and pushing the same mesh again at new versions
 * does not grow the heap. Runs retention-child.ts in a process of its own with `--expose-gc` (real
 * ADS server and client, in-process proxy), which tracks every decoded message with a WeakRef.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const SERVICES = 300;

interface Result {
  services: number;
  configBytes: number;
  decoded: number;
  alive: number;
  updates: number;
  updatesAlive: number;
  clusters: number;
  clustersAfter: number;
  heap: number[];
}

async function run(): Promise<Result> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', resolve(import.meta.dirname, 'retention-child.ts')], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: resolve(root, 'tsconfig.base.json'), RETENTION_SERVICES: String(SERVICES), RETENTION_ROUNDS: '6' },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Result;
}

describe('config retention (a process with --expose-gc)', () => {
  it(`drops the decoded xDS messages of ${SERVICES} services after apply and does not grow with config versions`, async () => {
    const r = await run();
    // every cluster and load assignment, the listener and the route table were decoded and tracked
    expect(r.decoded).toBeGreaterThanOrEqual(2 * SERVICES + 2);
    expect(r.updates).toBeGreaterThanOrEqual(4);
    expect(r.clusters).toBe(SERVICES);
    // none survives a forced collection: only the compiled specs and tables are kept
    expect(r.alive).toBe(0);
    expect(r.updatesAlive).toBe(0);
    // six more versions with changed endpoints and routes: same clusters, and the retained heap
    // (old space, code excluded) after the last within 5% of one config's size of the first
    expect(r.clustersAfter).toBe(SERVICES);
    expect(r.configBytes).toBeGreaterThan(0);
    const growth = r.heap.at(-1)! - r.heap[0];
    expect(growth, `heap after each version: ${r.heap.join(', ')}`).toBeLessThan(0.05 * r.configBytes);
  }, 90_000);
});
