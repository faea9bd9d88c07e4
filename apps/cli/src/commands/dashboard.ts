/** `tsmesh dashboard`: the web dashboard (service graph, splits, proxies, config issues, workloads) on a local port. */
import type { Command } from 'commander';

/** Flags of `tsmesh dashboard`. */
export interface DashboardFlags {
  port: string;
  address: string;
  prometheus?: string;
  window: string;
  assets?: string;
  otlp?: string;
}

/**
 * Adds `dashboard` to `program` and returns the command (subcommands such as
 * `dashboard prometheus <pod>` may be attached to it; with none given, the web dashboard runs).
 */
export function addDashboardCommand(
  program: Command,
  io: { out: (s: string) => void; err: (s: string) => void; exit: (code: number) => void },
): Command {
  return program
    .command('dashboard')
    .description('the web dashboard: live service graph (rps, success rate, P50/P99, mTLS locks), traffic split by version, proxy sync state, config issues, workload pages; from Prometheus, or the proxies\' own metrics without it')
    .option('-p, --port <port>', 'local port (0 picks a free one; 20001 as Kiali)', '20001')
    .option('--address <addr>', 'address to listen on', '127.0.0.1')
    .option('--prometheus <url>', 'Prometheus base URL (default $TSMESH_PROMETHEUS; without it, the proxies are scraped directly)', process.env.TSMESH_PROMETHEUS)
    .option('--window <seconds>', 'rate window in seconds', '15')
    .option('--assets <dir>', 'the built front end (default dist/apps/dashboard)')
    .option('--otlp <host:port>', 'also receive OTLP/HTTP traces on this address (for proxies that cannot reach --address; Istio\'s port is 4318); the dashboard\'s own port always takes POST /v1/traces')
    .action(async (o: DashboardFlags) => {
      const port = Number(o.port);
      const window = Number(o.window);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: "${o.port}" is not a port number`);
      if (!Number.isFinite(window) || window < 2) throw new Error(`--window: "${o.window}" is not a number of seconds ≥ 2`);
      let otlp: { host: string; port: number } | undefined;
      if (o.otlp) {
        const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(o.otlp);
        if (!m || Number(m[2]) > 65535) throw new Error(`--otlp: "${o.otlp}" is not host:port`);
        otlp = { host: m[1], port: Number(m[2]) };
      }
      const { startDashboard } = await import('../dashboard/server');
      const d = await startDashboard({
        port, host: o.address, controlPlane: program.opts().controlPlane, prometheus: o.prometheus || undefined, windowSeconds: window, assetsDir: o.assets, otlp,
      });
      io.out(`tsmesh dashboard: ${d.url}/  (control plane ${program.opts().controlPlane}; ${o.prometheus ? `Prometheus ${o.prometheus}` : 'no Prometheus: the proxies\' own metrics'}; OTLP/HTTP traces to ${d.otlpUrl})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => void d.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      io.exit(0);
    });
}
