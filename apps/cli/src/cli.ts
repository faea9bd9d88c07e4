/** The `tsmesh` command. */
import { Command } from 'commander';

import { analyze, EXIT, parseLevel, renderAnalysis } from './commands/analyze';
import { formatProxyStatus, getJson, selectKind, type ConfigDump, type ProxyStatusEntry } from './commands/proxy-status';
import { kubeInject } from './commands/kube-inject';
import { addDemoOptions, type DemoOptions } from './commands/demo';

/** Builds the program; `out` and `err` are where it writes (tests capture them). */
export function buildProgram(io: { out: (s: string) => void; err: (s: string) => void; exit: (code: number) => void }): Command {
  const program = new Command('tsmesh')
    .description('tsmesh: an Istio-compatible service mesh')
    .option('--control-plane <url>', 'control plane monitoring address', process.env.TSMESH_CONTROL_PLANE ?? 'http://127.0.0.1:15014')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  program
    .command('analyze')
    .description('analyze Istio and Kubernetes YAML (files or directories) as istioctl analyze does: IST message codes and levels, exit 79 on findings')
    .argument('<paths...>', 'YAML files or directories')
    .option('-n, --namespace <ns>', 'namespace for resources that name none', 'default')
    .option('-o, --output <format>', 'log, json or yaml', 'log')
    .option('--output-threshold <level>', 'lowest level printed: Info, Warning or Error', 'Info')
    .option('--failure-threshold <level>', 'lowest level that makes the exit code 79: Info, Warning or Error', 'Error')
    .action((paths: string[], o: { namespace: string; output: string; outputThreshold: string; failureThreshold: string }) => {
      const output = o.output === 'text' ? 'log' : o.output;
      const outputThreshold = parseLevel(o.outputThreshold);
      const failureThreshold = parseLevel(o.failureThreshold);
      if ((output !== 'log' && output !== 'json' && output !== 'yaml') || !outputThreshold || !failureThreshold) {
        io.err(`Error: invalid flag: --output must be log, json or yaml; thresholds Info, Warning or Error\n`);
        io.exit(EXIT.usage);
        return;
      }
      const rendered = renderAnalysis(analyze(paths, o.namespace), { output, outputThreshold, failureThreshold, namespace: o.namespace });
      io.out(rendered.out);
      if (rendered.err) io.err(rendered.err);
      io.exit(rendered.code);
    });

  program
    .command('kube-inject')
    .description('inject the sidecar into Kubernetes YAML offline (Deployments, StatefulSets, Pods; multi-document)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]', 'passed to the injector: -f <file> [-o <file>] ...')
    .action((args: string[]) => io.exit(kubeInject(args)));

  program
    .command('proxy-status')
    .description('each connected proxy with the sync state of every xDS type')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { output: string }) => {
      const entries = await getJson<ProxyStatusEntry[]>(program.opts().controlPlane, '/debug/syncz');
      io.out(o.output === 'json' ? JSON.stringify(entries, null, 2) + '\n' : formatProxyStatus(entries));
    });

  program
    .command('proxy-config')
    .description('the Envoy resources the control plane serves one proxy (listeners, routes, clusters, endpoints, secrets, all)')
    .argument('<kind>', 'listeners | routes | clusters | endpoints | secrets | all')
    .argument('<proxy>', 'node id, or pod.namespace')
    .action(async (kind: string, proxy: string) => {
      let id = proxy;
      if (!proxy.includes('~')) {
        const entries = await getJson<ProxyStatusEntry[]>(program.opts().controlPlane, '/debug/syncz');
        const hit = entries.find((e) => `${e.pod}.${e.namespace}` === proxy || e.pod === proxy);
        if (!hit) throw new Error(`no connected proxy "${proxy}"; connected: ${entries.map((e) => `${e.pod}.${e.namespace}`).join(', ') || 'none'}`);
        id = hit.proxy;
      }
      const dump = await getJson<ConfigDump>(program.opts().controlPlane, `/debug/config_dump?proxyID=${encodeURIComponent(id)}`);
      io.out(JSON.stringify(selectKind(dump, kind), null, 2) + '\n');
    });

  addDemoOptions(
    program
      .command('demo')
      .description('bring up the whole mesh (control plane, CA, injector, gateway, samples with sidecars) on the local runtime, show it, and tear it down on Ctrl-C'),
  ).action(async (o: DemoOptions) => {
    const { runDemo } = await import('./commands/demo');
    io.exit(await runDemo(o));
  });

  return program;
}

/** Runs the CLI with `argv` (without node and script). */
export async function run(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram({
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    exit: (c) => {
      code = c;
    },
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message: string };
    if (e.code?.startsWith('commander.')) return e.exitCode ?? 1;
    process.stderr.write(`tsmesh: ${e.message}\n`);
    return 1;
  }
  return code;
}

