/** Runs a command-line tool (kind, kubectl, docker, bash) and resolves with its output. */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Options of {@link runCli}. */
export interface CliOptions {
  cwd?: string;
  /** Killed after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Written to the tool's stdin. */
  input?: string;
  /** Added to the environment the tool inherits. */
  env?: Record<string, string>;
}

/** Runs `cmd args…`; rejects naming the command and its stderr (or exit code). */
export async function runCli(cmd: string, args: string[], opts: CliOptions = {}): Promise<string> {
  const env = opts.env ? { ...process.env, ...opts.env } : undefined;
  if (opts.input !== undefined) {
    const input = opts.input;
    return new Promise((done, fail) => {
      const child = spawn(cmd, args, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', (e) => fail(new Error(`${cmd} ${args.join(' ')}: ${e.message}`)));
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code === 0) done(out);
        else fail(new Error(`${cmd} ${args.join(' ')}: ${(err || `exit ${code}`).trim()}`));
      });
      // A tool that exits without reading its stdin: the exit code names the failure, not EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  }
  try {
    const { stdout } = await run(cmd, args, { cwd: opts.cwd, env, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}
