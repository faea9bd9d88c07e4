/** Runs the `tsmesh` program in-process on `args`, collecting its output, errors and exit code. */
import { buildProgram } from '../src/cli';

export async function runCli(args: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  let code = 0;
  const p = buildProgram({ out: (s) => (out += s), err: (s) => (err += s), exit: (c) => (code = c) });
  try {
    await p.parseAsync(args, { from: 'user' });
  } catch (e) {
    err += (e as Error).message;
    code = code || 1;
  }
  return { out, err, code };
}
