/**
 * Container lifecycle hooks as the kubelet runs them (`lifecycle.preStop`): `exec` inside the
 * container (its mount and network namespaces, root directory, working directory, user and
 * environment, entered with nsenter from its process), `httpGet` to the pod IP (as a probe is sent),
 * or `sleep`. A hook is bounded by the time left of the pod's `terminationGracePeriodSeconds`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { probeOnce } from './probes';
import type { ContainerSpec, LifecycleHandler } from './kube';

/** How a hook ended: `ok`, or the reason it failed or was cut off. */
export type HookResult = { ok: true } | { ok: false; reason: string };

/** The environment of a running process (`/proc/<pid>/environ`). */
function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** The effective UID and GID of a running process. */
function idsOf(pid: number): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? 0), gid: Number(/^Gid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? 0) };
}

/** Runs `command` in the container whose main process is `pid`; resolves with its exit code (null when killed at `timeoutMs`). */
export function execInContainer(pid: number, command: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  let env: Record<string, string>;
  let ids: { uid: number; gid: number };
  try {
    env = environOf(pid);
    ids = idsOf(pid);
  } catch (err) {
    return Promise.resolve({ code: -1, output: `the container's process ${pid} is gone: ${(err as Error).message}` });
  }
  return new Promise((resolve) => {
    const child = spawn('nsenter', ['--target', String(pid), '--mount', '--net', '--root', '--wd', '--setuid', String(ids.uid), '--setgid', String(ids.gid), '--', ...command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-2000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(1, timeoutMs));
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, output: err.message });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: output.trim() });
    });
  });
}

/** Runs a lifecycle handler of a container (main process `pid`) of a pod at `podIP`, within `timeoutMs`. */
export async function runHook(h: LifecycleHandler, c: { pid: number | undefined; podIP: string; containers: ContainerSpec[]; netns: string }, timeoutMs: number): Promise<HookResult> {
  const seconds = Math.round(timeoutMs / 100) / 10;
  if (h.exec) {
    if (!h.exec.command?.length) return { ok: false, reason: 'exec.command is empty' };
    if (!c.pid) return { ok: false, reason: 'the container is not running' };
    const r = await execInContainer(c.pid, h.exec.command, timeoutMs);
    if (r.code === null) return { ok: false, reason: `exec ${JSON.stringify(h.exec.command)} did not complete within the ${seconds} s left of the grace period` };
    return r.code === 0 ? { ok: true } : { ok: false, reason: `exec ${JSON.stringify(h.exec.command)} exited ${r.code}${r.output ? `: ${r.output}` : ''}` };
  }
  if (h.httpGet) {
    const ok = await probeOnce({ httpGet: h.httpGet, timeoutSeconds: timeoutMs / 1000 }, c.podIP, c.containers, c.netns);
    return ok ? { ok: true } : { ok: false, reason: `httpGet ${h.httpGet.path ?? '/'} on port ${h.httpGet.port} failed or did not answer within ${seconds} s` };
  }
  if (h.sleep) {
    const ms = (h.sleep.seconds ?? 0) * 1000;
    await new Promise((r) => setTimeout(r, Math.min(ms, timeoutMs)));
    return ms <= timeoutMs ? { ok: true } : { ok: false, reason: `sleep ${h.sleep.seconds} s did not complete within the ${seconds} s left of the grace period` };
  }
  return { ok: false, reason: 'the handler has no exec, httpGet or sleep' };
}
