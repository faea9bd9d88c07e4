// Runs the "control plane and one proxy on your laptop" recipe of apps/control-plane/README.md, as
// written there: real processes (callme, the control plane, a sidecar, the CLI, curl), each port
// replaced by a free one so it runs beside other tests, each `# →` checked. The last step goes
// through the sample HTTP filter (header_mutation) that the sample EnvoyFilter puts in the sidecar.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const SAMPLES = 'apps/control-plane/samples/laptop';
const PORTS = [8091, 15000, 15001, 15006, 15010, 15014, 15021, 15080, 15090];

/** The recipe's commands: the sh block between the laptop-recipe markers. */
function recipe(): { cmd: string; expect?: string; background: boolean }[] {
  const text = readFileSync(join(root, 'apps/control-plane/README.md'), 'utf8');
  const m = /<!-- laptop-recipe -->\s*```sh\n([\s\S]*?)```\s*<!-- \/laptop-recipe -->/.exec(text);
  if (!m) throw new Error('apps/control-plane/README.md has no laptop-recipe block');
  return m[1].split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).map((l) => {
    const at = l.indexOf('# →');
    let cmd = (at >= 0 ? l.slice(0, at) : l).trim();
    const background = cmd.endsWith('&');
    if (background) cmd = cmd.slice(0, -1).trim();
    return { cmd, expect: at >= 0 ? l.slice(at + 3).trim() : undefined, background };
  });
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((r) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => r(s)); })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
}

function run(cmd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((r) => {
    execFile('bash', ['-c', cmd], { cwd: root, env, timeout: 10_000 }, (err, stdout, stderr) => r({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
  });
}

describe('apps/control-plane/README.md: the control plane and one proxy on your laptop', () => {
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-laptop-'));
  afterAll(async () => {
    for (const p of procs) if (p.pid && p.exitCode === null) try { process.kill(-p.pid, 'SIGTERM'); } catch { /* gone */ }
    await new Promise((r) => setTimeout(r, 300));
    for (const p of procs) if (p.pid && p.exitCode === null) try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  });

  it('every command runs and prints what the README says', async () => {
    const steps = recipe();
    expect(steps.length).toBeGreaterThan(5);
    const free = await freePorts(PORTS.length);
    const swap = (s: string) => PORTS.reduce((t, p, i) => t.replace(new RegExp(`(?<![0-9])${p}(?![0-9])`, 'g'), String(free[i])), s);
    // the sample directory, with the same ports moved
    const samples = join(dir, 'samples');
    cpSync(join(root, SAMPLES), samples, { recursive: true });
    for (const f of files(samples)) writeFileSync(f, swap(readFileSync(f, 'utf8')));
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    for (const [i, s] of steps.entries()) {
      if (s.cmd.startsWith('source ')) continue; // the build: this target depends on it
      const cmd = swap(s.cmd.replaceAll(SAMPLES, samples));
      if (s.background) {
        const log = openSync(join(dir, `step-${i}.log`), 'w');
        procs.push(spawn('bash', ['-c', cmd], { cwd: root, env, detached: true, stdio: ['ignore', log, log] }));
        continue;
      }
      const want = s.expect === undefined ? undefined : swap(s.expect);
      const until = Date.now() + 30_000;
      let last = { code: -1, out: '' };
      for (;;) {
        last = await run(cmd, env);
        if (last.code === 0 && (want === undefined || last.out.includes(want))) break;
        if (Date.now() > until) {
          const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').slice(-2000)}`).join('\n');
          throw new Error(`step ${i} \`${cmd}\` (exit ${last.code}) did not print ${JSON.stringify(want)}:\n${last.out.slice(0, 2000)}\n${logs}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(last.out).toContain(want ?? '');
    }
    // Then a patch that validates but the proxy cannot run: the NACK names the field and the
    // EnvoyFilters that patched the listeners, and the last good config keeps serving.
    const cli = `node dist/apps/cli/main.js --control-plane http://127.0.0.1:${free[PORTS.indexOf(15014)]} proxy-status`;
    writeFileSync(join(samples, 'config', 'nack.yaml'), `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: fcc, namespace: default}
spec:
  priority: 1
  configPatches:
    - applyTo: NETWORK_FILTER
      match: {listener: {name: laptop_${free[PORTS.indexOf(15080)]}, filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}}
      patch:
        operation: MERGE
        value: {typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, forward_client_cert_details: ALWAYS_FORWARD_ONLY}}
`);
    const until = Date.now() + 30_000;
    let out = '';
    while (!/NACK of .*forward_client_cert_details.*patched by EnvoyFilter default\/laptop-entry, default\/fcc/.test(out)) {
      if (Date.now() > until) throw new Error(`no NACK naming the field and the EnvoyFilters:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
      out = (await run(cli, env)).out;
    }
    const still = await run(`curl -s -D - -H 'host: callme-service' 127.0.0.1:${free[PORTS.indexOf(15080)]}/callme/ping`, env);
    expect(still.out).toContain('x-served-by: tsmesh-sidecar');
  }, 120_000);
});
