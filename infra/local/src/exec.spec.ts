import { describe, expect, it } from 'vitest';
import { CommandError, run } from './exec';

describe('run', () => {
  // larger than a pipe's buffer: the write cannot finish before the command is gone
  const input = 'x'.repeat(1024 * 1024);

  it('a command that exits without reading its input: its result, no EPIPE thrown', async () => {
    for (let i = 0; i < 3; i++) expect(await run(['true'], { input })).toBe('');
  });

  it('a command that fails without reading its input: a CommandError with its exit status and stderr', async () => {
    const err = await run(['sh', '-c', 'echo refused >&2; exit 3'], { input }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).exitCode).toBe(3);
    expect((err as CommandError).message).toContain('refused');
  });
});
