import { describe, expect, it } from 'vitest';
import { pipe } from './image-rootfs';

describe('pipe (a | b)', () => {
  it('passes a\'s output to b', async () => {
    await expect(pipe(['printf', 'abc'], ['sh', '-c', '[ "$(cat)" = abc ]'], 10_000)).resolves.toBeUndefined();
  });

  it('b exiting before it read all of a\'s output: rejects naming b and its exit code, no EPIPE thrown, a not left blocked', async () => {
    // a writes far more than a pipe holds; b reads nothing and fails
    const t0 = Date.now();
    const err = await pipe(['head', '-c', String(8 * 1024 * 1024), '/dev/zero'], ['sh', '-c', 'echo refused >&2; exit 5'], 20_000).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/^sh -c .*: exit 5: refused$/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a failing: rejects naming a', async () => {
    const err = await pipe(['sh', '-c', 'echo broken >&2; exit 2'], ['cat'], 10_000).catch((e: unknown) => e as Error);
    expect(err!.message).toMatch(/: exit 2: broken$/);
  });
});
