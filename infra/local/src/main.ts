#!/usr/bin/env node
/**
 * `node dist/infra/local/main.js up [manifests…] | down | cleanup [--all]`
 *   up       runs the manifests (default infra/k8s/base) until Ctrl-C, then tears everything down
 *   down     signals a running `up` (its pid file in the run dir) to stop
 *   cleanup  removes leftovers of crashed runs (namespaces, veths, bridges, chains, processes)
 */
import { Command } from 'commander';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { LocalRuntime } from './runtime';
import { cleanup } from './cleanup';

const PID_FILE = '/tmp/tsmesh-local.pid';

const program = new Command('tsmesh-local').description('tsmesh local runtime: Kubernetes manifests as namespaces, veths and processes');

program
  .command('up')
  .description('run the manifests until Ctrl-C (or `down`), then tear everything down')
  .argument('[manifests...]', 'manifest files or directories', ['infra/k8s/base'])
  .option('--run-dir <dir>', 'config, volumes and logs (default a new /tmp/tsmesh-local-*)')
  .option('--http-port <port>', 'loopback port for the gateway port 80', '8080')
  .option('--https-port <port>', 'loopback port for the gateway port 443', '8443')
  .option('--timeout <seconds>', 'how long to wait for every pod to be ready', '180')
  .action(async (manifests: string[], o: { runDir?: string; httpPort: string; httpsPort: string; timeout: string }) => {
    await cleanup();
    const rt = await LocalRuntime.start({
      manifests,
      runDir: o.runDir,
      hostPorts: { 80: Number(o.httpPort), 443: Number(o.httpsPort) },
      log: (l) => console.log(`[local] ${l}`),
    });
    writeFileSync(PID_FILE, String(process.pid));
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`[local] ${sig}: tearing down`);
      await rt.stop();
      rmSync(PID_FILE, { force: true });
      process.exit(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    try {
      await rt.waitReady({ timeoutMs: Number(o.timeout) * 1000 });
      console.log('[local] all pods ready');
    } catch (err) {
      console.error(`[local] ${(err as Error).message}`);
    }
    for (const p of rt.pods()) console.log(`[local] ${p.namespace}/${p.name}\t${p.ip}\t${p.ready ? 'Ready' : 'NotReady'}`);
    try {
      console.log(`[local] gateway http://127.0.0.1:${rt.hostPort(80)}/  https://localhost:${rt.hostPort(443)}/`);
    } catch {
      // no gateway in these manifests
    }
    console.log(`[local] run dir ${rt.runDir}; Ctrl-C to stop`);
  });

program
  .command('down')
  .description('stop a running `up`')
  .action(() => {
    if (!existsSync(PID_FILE)) {
      console.log('no running local runtime');
      return;
    }
    process.kill(Number(readFileSync(PID_FILE, 'utf8')), 'SIGTERM');
  });

program
  .command('cleanup')
  .description('remove leftovers of crashed runs: processes, namespaces, veths, bridges, iptables chains, /etc/netns')
  .option('--all', 'also remove the leftovers of runs whose process is alive')
  .action(async (o: { all?: boolean }) => {
    const r = await cleanup({ all: o.all });
    console.log(JSON.stringify(r));
  });

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`tsmesh-local: ${err.message}`);
  process.exit(1);
});
