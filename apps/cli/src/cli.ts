/** The `tsmesh` command. */
import { Command } from 'commander';

import { analyze, EXIT, parseLevel, renderAnalysis } from './commands/analyze';
import {
  formatProxyDetail, formatProxyStatus, formatPushes, getJson, parseWaitTarget, waitForConfig,
  type ProxyDetail, type ProxyStatusEntry, type PushRecordView,
} from './commands/proxy-status';
import { parseDurationMs } from '@tsmesh/mesh-config';
import { kubeInject } from './commands/kube-inject';
import { proxyConfig, type ProxyConfigOptions } from './commands/proxy-config-command';
import { describeCommand } from './commands/describe';
import { addDashboardLinks } from './commands/dashboard-links';
import { addDemoOptions, type DemoOptions } from './commands/demo';
import { addDashboardCommand } from './commands/dashboard';
import { addLocalCommand } from './commands/local';

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
    .description('each connected proxy with the sync state of every xDS type; with <proxy>, its resources with versions and the time since each changed; with --pushes, the last pushes explained')
    .argument('[proxy]', 'node id, pod.namespace or pod name')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--pushes', 'the last pushes: what triggered each, which proxies it reached and why, types and bytes, step times')
    .option('--limit <n>', 'pushes to show with --pushes', (v) => Number(v), 5)
    .action(async (proxy: string | undefined, o: { output: string; pushes?: boolean; limit: number }) => {
      const base = program.opts().controlPlane;
      const json = (v: unknown) => io.out(JSON.stringify(v, null, 2) + '\n');
      if (o.pushes) {
        const st = await getJson<{ pushes: PushRecordView[] }>(base, `/debug/push_status?limit=${o.limit}${proxy ? `&proxy=${encodeURIComponent(proxy)}` : ''}`);
        if (o.output === 'json') json(st.pushes);
        else io.out(formatPushes(st.pushes));
        return;
      }
      if (proxy) {
        const d = await getJson<ProxyDetail>(base, `/debug/syncz?proxyID=${encodeURIComponent(proxy)}`);
        if (o.output === 'json') json(d);
        else io.out(formatProxyDetail(d));
        return;
      }
      const entries = await getJson<ProxyStatusEntry[]>(base, '/debug/syncz');
      if (o.output === 'json') json(entries);
      else io.out(formatProxyStatus(entries));
    });

  program
    .command('wait')
    .description('wait until every proxy the last change of a resource reached has ACKed the config holding it ("did my config land everywhere?")')
    .argument('<resource>', '<kind>/<namespace>/<name>, e.g. virtualservice/default/reviews')
    .option('--timeout <duration>', 'give up after (e.g. 30s, 2m)', '30s')
    .action(async (ref: string, o: { timeout: string }) => {
      const key = parseWaitTarget(ref);
      const ms = parseDurationMs(o.timeout);
      if (!Number.isFinite(ms) || ms < 0) throw new Error(`--timeout: "${o.timeout}" is not a duration such as 30s`);
      const { ok, status } = await waitForConfig(program.opts().controlPlane, key, ms);
      if (ok) {
        io.out(`${key}: ${status.push !== undefined ? `push #${status.push} (${status.version})` : 'unchanged since the control plane started'} ACKed by ${status.acked}/${status.affected} proxies\n`);
        io.exit(0);
        return;
      }
      const why = status.state === 'unknown' ? 'the control plane does not know this resource'
        : status.state === 'pending' ? 'the change is still waiting for a push'
        : `${status.acked}/${status.affected} proxies ACKed; waiting for ${status.waiting.slice(0, 10).join(', ')}${status.waiting.length > 10 ? ', …' : ''}`;
      io.err(`Error: timed out after ${o.timeout} waiting for ${key}: ${why}\n`);
      io.exit(1);
    });

  program
    .command('proxy-config')
    .alias('pc')
    .description("a proxy's Envoy config as istioctl shows it, read from the proxy's own admin (/config_dump, /clusters, /logging) through a port-forward; --source control-plane shows what the control plane serves it")
    .argument('<kind>', 'cluster | listener | route | endpoint | secret | bootstrap | log | all (plurals accepted)')
    .argument('<pod>', 'pod, pod.namespace, namespace/pod or node id')
    .option('-n, --namespace <ns>', 'namespace of the pod')
    .option('-o, --output <format>', 'short (istioctl\'s table), json or yaml', 'short')
    .option('--source <source>', 'proxy (its admin, 15000) or control-plane (/debug/config_dump)', 'proxy')
    .option('--admin <url>', 'the proxy admin URL to read instead of port-forwarding to the pod (e.g. http://127.0.0.1:15000)')
    .option('--context <name>', 'kubeconfig context for kubectl port-forward (kind)')
    .option('--level <level>', 'log: set levels (debug, or logger:level,logger:level)')
    .option('-r, --reset', 'log: reset every logger to the proxy default (warning)')
    .option('--fqdn <host>', 'cluster: service FQDN prefix')
    .option('--port <port>', 'cluster/listener/endpoint: port')
    .option('--subset <name>', 'cluster: subset')
    .option('--direction <dir>', 'cluster: inbound or outbound')
    .option('--address <ip>', 'listener/endpoint: address')
    .option('--name <name>', 'route: route configuration name')
    .option('--cluster <name>', 'endpoint: cluster name')
    .option('--status <status>', 'endpoint: HEALTHY, UNHEALTHY, DRAINING, …')
    .action(async (kindArg: string, ref: string, o: ProxyConfigOptions) => {
      io.out(await proxyConfig(program.opts().controlPlane, kindArg, ref, o));
    });

  program
    .command('x')
    .description('experimental commands, as istioctl x')
    .addCommand(describeCommand(() => program.opts().controlPlane, io));

  program
    .command('bug-report')
    .description('configs, proxy config dumps, logs, status and versions of the mesh in one tar.gz archive')
    .option('--output <file>', 'archive to write', 'bug-report.tar.gz')
    .option('--run-dir <dir>', "the local runtime's run directory (container logs); found from the running runtime otherwise")
    .option('--context <name>', 'kubeconfig context for kubectl port-forward (kind)')
    .option('--no-proxies', 'leave out the proxies\' own config dumps')
    .action(async (o: { output: string; runDir?: string; context?: string; proxies: boolean }) => {
      const { bugReport } = await import('./commands/bug-report');
      const r = await bugReport({ controlPlane: program.opts().controlPlane, output: o.output, runDir: o.runDir, context: o.context, proxies: o.proxies, log: (l) => io.err(`${l}\n`) });
      io.out(`wrote ${r.path}: ${r.files.length} files, ${r.bytes} bytes${r.problems.length ? `; could not collect: ${r.problems.length} (see problems.txt)` : ''}\n`);
    });

  // `tsmesh dashboard` is the web dashboard; `dashboard prometheus|envoy|controlz` forward to a component
  addDashboardLinks(addDashboardCommand(program, io), () => program.opts().controlPlane, io);
  addLocalCommand(program, io);

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

