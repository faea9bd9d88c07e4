/**
 * `tsmesh dashboard prometheus|envoy|controlz [<pod>]`, as istioctl's: forwards the component's
 * port to loopback (through the pod's network namespace on the local runtime, `kubectl
 * port-forward` on kind), prints the URL, opens it with `--browser`, and keeps forwarding until
 * Ctrl-C. The bare `tsmesh dashboard` is the web dashboard (dashboard.ts).
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { forwardPodPort, PodAccessError, resolvePod, type KubeObjectView, type PodRef, type PortForward } from './pod-access';
import { getJson } from './proxy-status';
import { ADMIN_PORT } from './proxy-config-command';

/** The control plane's monitoring port (its /metrics and /debug/* pages; tsmesh's ControlZ). */
export const CONTROLZ_PORT = 15014;
/** Prometheus's port (the demo's host process and the kind add-on's pod). */
export const PROMETHEUS_PORT = 9090;

interface LinkOptions {
  port: string;
  browser?: boolean;
  namespace?: string;
  context?: string;
}

type IO = { out: (s: string) => void; err: (s: string) => void; exit: (code: number) => void };

/** Opens a URL in the desktop's browser (xdg-open / open); says so when there is none. */
export function openBrowser(url: string, io: Pick<IO, 'err'>): void {
  const bin = process.platform === 'darwin' ? 'open' : 'xdg-open';
  const child = spawn(bin, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => io.err(`could not open a browser (${bin} is not installed); open ${url} yourself\n`));
  child.unref();
}

function localPort(o: LinkOptions): number {
  const p = Number(o.port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`--port: "${o.port}" is not a port number`);
  return p;
}

/** Serves a forward until SIGINT/SIGTERM. */
async function serve(f: PortForward, url: string, what: string, o: LinkOptions, io: IO): Promise<void> {
  io.out(`${url}\n`);
  io.err(`${what} (via ${f.via}); Ctrl-C to stop\n`);
  if (o.browser) openBrowser(url, io);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  f.close();
  io.exit(0);
}

/** The first pod of `namespace` whose name starts with `prefix` (`istiod` → `istiod-7c…`). */
async function podByPrefix(controlPlane: string, prefix: string, namespace: string): Promise<PodRef | undefined> {
  const objects = await getJson<KubeObjectView[]>(controlPlane, '/debug/configz');
  const pod = objects.find((x) => x.kind === 'Pod' && (x.metadata.namespace ?? 'default') === namespace && x.metadata.name.startsWith(prefix));
  return pod ? { name: pod.metadata.name, namespace, ip: pod.status?.podIP, labels: pod.metadata.labels } : undefined;
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;
  } catch {
    return false;
  }
}

/** Adds `prometheus`, `envoy` and `controlz` under the `dashboard` command. */
export function addDashboardLinks(dashboard: Command, controlPlane: () => string, io: IO): Command {
  // `-p` after a subcommand is the subcommand's (the web dashboard has its own `-p`)
  dashboard.enablePositionalOptions();
  const common = (c: Command) => c
    .option('-p, --port <port>', 'local port (0 picks a free one)', '0')
    .option('--browser', 'also open the URL in the browser')
    .option('-n, --namespace <ns>', 'namespace of the pod')
    .option('--context <name>', 'kubeconfig context for kubectl port-forward (kind)');

  common(dashboard
    .command('prometheus')
    .description("Prometheus: the prometheus pod of istio-system (the kind add-on) port-forwarded, else the demo's Prometheus on this machine ($TSMESH_PROMETHEUS, http://127.0.0.1:9090)"))
    .action(async (o: LinkOptions) => {
      const pod = await podByPrefix(controlPlane(), 'prometheus', o.namespace ?? 'istio-system');
      if (pod) {
        const f = await forwardPodPort(pod, PROMETHEUS_PORT, { localPort: localPort(o), context: o.context });
        return serve(f, `${f.url}/`, `Prometheus ${pod.name}.${pod.namespace}`, o, io);
      }
      const url = (process.env.TSMESH_PROMETHEUS ?? `http://127.0.0.1:${PROMETHEUS_PORT}`).replace(/\/$/, '');
      if (!(await ready(`${url}/-/ready`))) throw new PodAccessError(`no Prometheus: no prometheus pod in ${o.namespace ?? 'istio-system'} and nothing answers ${url}/-/ready (the demo starts one; on kind apply infra/k8s/addons/prometheus)`);
      io.out(`${url}/\n`);
      if (o.browser) openBrowser(`${url}/`, io);
      io.exit(0);
    });

  common(dashboard
    .command('envoy')
    .description("a proxy's admin (15000: /config_dump, /clusters, /stats, /logging …), port-forwarded")
    .argument('<pod>', 'pod, pod.namespace, namespace/pod or node id'))
    .action(async (ref: string, o: LinkOptions) => {
      const pod = await resolvePod(controlPlane(), ref, { namespace: o.namespace, requireProxy: true });
      const f = await forwardPodPort(pod, ADMIN_PORT, { localPort: localPort(o), context: o.context });
      return serve(f, `${f.url}/`, `Envoy admin of ${pod.name}.${pod.namespace}`, o, io);
    });

  common(dashboard
    .command('controlz')
    .description("the control plane's monitoring and debug pages (15014: /metrics, /debug/syncz, /debug/configz, /debug/push_status …), port-forwarded")
    .argument('[pod]', 'control plane pod (default the first istiod pod of istio-system)'))
    .action(async (ref: string | undefined, o: LinkOptions) => {
      const ns = o.namespace ?? 'istio-system';
      const pod = ref ? await resolvePod(controlPlane(), ref, { namespace: ns, prefix: true }) : await podByPrefix(controlPlane(), 'istiod', ns);
      if (!pod) throw new PodAccessError(`no istiod pod in namespace ${ns}`);
      const f = await forwardPodPort(pod, CONTROLZ_PORT, { localPort: localPort(o), context: o.context });
      return serve(f, `${f.url}/debug/syncz`, `control plane ${pod.name}.${pod.namespace}`, o, io);
    });
  return dashboard;
}
