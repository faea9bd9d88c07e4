/** Running host commands (ip, iptables, setpriv) with errors that say what failed. */
import { execFile } from 'node:child_process';

/** A host command that exited non-zero. */
export class CommandError extends Error {
  readonly code = 'LOCAL_COMMAND';
  constructor(readonly argv: readonly string[], readonly exitCode: number | null, readonly stderr: string) {
    super(`${argv.join(' ')}: exit ${exitCode}: ${stderr.trim()}`);
    this.name = 'CommandError';
  }
}

/** Runs `argv` and returns stdout; throws {@link CommandError} on a non-zero exit. */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
        reject(new CommandError(argv, typeof code === 'number' ? code : null, `${stderr || err.message}`));
      } else resolve(stdout);
    });
    if (opts.input !== undefined) {
      // A command that exits without reading its input (EPIPE): its exit status says why.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
  });
}

/** Runs `argv`, ignoring failure (teardown of things that may already be gone). */
export async function tryRun(argv: readonly string[]): Promise<boolean> {
  try {
    await run(argv);
    return true;
  } catch {
    return false;
  }
}
