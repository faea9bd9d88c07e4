/** The demo's mesh on the local runtime (`@tsmesh/local-runtime`): pods in network namespaces, as root. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { hostAddress, imagesWithTracing, LocalRuntime, prometheusUnavailable, scrapePodsOf, startPrometheus, type PodInfo, type RunningPrometheus } from '@tsmesh/local-runtime';
import type { DemoEndpoints, DemoMesh, GatewayApiDemo, MeshSnapshot, ProgressSink } from './demo-mesh';

/** Apps the local runtime runs from `dist/apps/<app>/main.js`. */
export const DEMO_APPS = ['proxy', 'control-plane', 'ca', 'injector', 'todolist', 'caller', 'callme'];

/** A TCP forwarder from a loopback port to an address the host reaches (a pod IP). */
class Forward {
  private constructor(readonly server: Server, readonly port: number, private readonly sockets: Set<Socket>) {}

  static async open(target: { host: string; port: number }, preferred = 0): Promise<Forward> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(target);
      sockets.add(client).add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.pipe(upstream).pipe(client);
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
    });
    const listen = (port: number) =>
      new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', rej);
          res();
        });
      });
    try {
      await listen(preferred);
    } catch (err) {
      if (!preferred) throw err;
      await listen(0);
    }
    return new Forward(server, (server.address() as { port: number }).port, sockets);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

/** Whether a loopback port (or a port of `host`) is free now (false only when something listens on it). */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => res(err.code !== 'EADDRINUSE'));
    s.listen(port, host, () => s.close(() => res(true)));
  });
}

/** A loopback port (or a port of `host`) nothing listens on now. */
export async function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, host, res));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}

function cmd(bin: string, args: string[]): string {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** The mesh on this machine's local runtime. */
export class LocalMesh implements DemoMesh {
  readonly name = 'local' as const;
  private rt?: LocalRuntime;
  private starting?: Promise<LocalRuntime>;
  private readonly forwards: Forward[] = [];
  private pids: number[] = [];
  private eps?: DemoEndpoints;
  private prom?: RunningPrometheus;
  /** Where the proxies export traces (the dashboard's OTLP receiver listens there), or why they do not. */
  private otlp?: { host: string; port: number } | string;

  constructor(
    private readonly root: string,
    private readonly opts: { httpPort: number; httpsPort: number; controlPlanePort: number; log: (line: string) => void },
  ) {}

  get runDir(): string | undefined {
    return this.rt?.runDir;
  }

  get runtime(): LocalRuntime | undefined {
    return this.rt;
  }

  async unavailable(): Promise<string | null> {
    if (process.platform !== 'linux') return 'the local runtime needs Linux (network namespaces, iptables)';
    if (process.getuid?.() !== 0) return 'the local runtime needs root: pods get network namespaces, veths and iptables rules (run it with sudo)';
    for (const bin of ['ip', 'iptables', 'setpriv']) if (!cmd('sh', ['-c', `command -v ${bin}`]).trim()) return `the local runtime needs \`${bin}\` (iproute2, iptables, util-linux)`;
    const missing = DEMO_APPS.filter((a) => !existsSync(join(this.root, 'dist/apps', a, 'main.js')));
    if (missing.length) return `the apps are not built (${missing.join(', ')}): run \`npm run demo\`, or \`nx run-many -t build -p ${DEMO_APPS.join(' ')}\` first`;
    return null;
  }

  async up(progress: ProgressSink, timeoutMs: number): Promise<void> {
    const hostPorts: Record<number, number> = {};
    for (const [svc, want] of [[80, this.opts.httpPort], [443, this.opts.httpsPort]] as const) {
      if (want && !(await portFree(want))) progress.note('note', `127.0.0.1:${want} is in use`, `the gateway's port ${svc} gets another loopback port`);
      else if (want) hostPorts[svc] = want;
    }
    const retried = new Set<string>();
    // Every proxy exports its spans (100 % sampled) to the dashboard's OTLP receiver on an address
    // of this machine the pods reach through the bridge.
    const host = hostAddress();
    this.otlp = host ? { host, port: (await portFree(4318, host)) ? 4318 : await freeLoopbackPort(host) } : 'no address of this machine the pods reach (besides loopback)';
    this.starting = LocalRuntime.start({
      workspaceRoot: this.root,
      manifests: [join(this.root, 'infra/k8s/base')],
      ...(typeof this.otlp === 'object' ? { images: imagesWithTracing(`http://${this.otlp.host}:${this.otlp.port}/v1/traces`, 100) } : {}),
      gatewayCertHosts: ['localhost', 'todolist.example.com', 'tsmesh.local', '*.tsmesh.local'],
      hostPorts,
      log: (line) => {
        this.opts.log(line);
        let m = /^run (\S+): bridge (\S+) (\S+), services (\S+), run dir (\S+)$/.exec(line);
        if (m) return progress.note('network', `run ${m[1]}`, `bridge ${m[2]}, pods ${m[3]}, services ${m[4]}`);
        m = /^published (\S+):(\d+) on (\S+)$/.exec(line);
        if (m && m[2] !== '15021') return progress.note('published', `${m[1]}:${m[2]}`, `on ${m[3]}`);
        m = /^pod of Deployment\/(\S+): admission webhook "[^"]+": (?:failed calling webhook \S+: )?(.*); retrying$/.exec(line);
        if (m && !retried.has(m[1])) {
          retried.add(m[1]);
          const why = /(E[A-Z]{4,})/.exec(m[2])?.[1] ?? m[2];
          return progress.note('waiting', m[1], `the sidecar injector's webhook is not up yet (${why}); admission is retried`);
        }
        m = /^pod (\S+) admitted by (.+)$/.exec(line);
        if (m) return progress.note('admitted', m[1], `by ${m[2]} (AdmissionReview over HTTPS)`);
        if (/exited|failed its|could not|failed:/.test(line) && !/^pod of .*retrying$/.test(line)) progress.note('warning', '', line);
      },
    }).then((rt) => (this.rt = rt));
    const rt = await this.starting;
    const until = Date.now() + timeoutMs;
    const timer = setInterval(() => void this.snapshot().then((s) => progress.snapshot(s)), 300);
    try {
      await rt.waitReady({ timeoutMs: Math.max(1000, until - Date.now()) });
    } finally {
      clearInterval(timer);
    }
    progress.snapshot(await this.snapshot());
  }

  async snapshot(): Promise<MeshSnapshot> {
    const rt = this.rt;
    if (!rt) return { pods: [], endpoints: {}, expectedPods: 0 };
    const pods = rt.pods().map((p: PodInfo) => {
      const side = p.containers.find((c) => c.name === 'istio-proxy' && c.sidecar);
      const injected = (p.object.spec.initContainers ?? []).some((c) => c.name === 'istio-proxy');
      return {
        key: `${p.namespace}/${p.name}`,
        ip: p.ip,
        ready: p.ready,
        sidecar: injected,
        sidecarReady: !!side?.ready,
        restarts: p.containers.reduce((n, c) => n + c.restartCount, 0),
      };
    });
    const endpoints: Record<string, string[]> = {};
    for (const svc of rt.list('Service')) {
      if (!(svc.spec as { selector?: unknown } | undefined)?.selector) continue;
      endpoints[`${svc.metadata.namespace}/${svc.metadata.name}`] = [];
    }
    for (const s of rt.list('EndpointSlice')) {
      const svc = `${s.metadata.namespace}/${s.metadata.labels?.['kubernetes.io/service-name']}`;
      const ports = (s.ports as { port: number }[] | undefined) ?? [];
      const list = (endpoints[svc] ??= []);
      for (const e of (s.endpoints as { addresses: string[] }[] | undefined) ?? []) list.push(`${e.addresses[0]}:${ports[0]?.port ?? '?'}`);
    }
    const expectedPods = rt.list('Deployment').reduce((n, d) => n + ((d.spec as { replicas?: number }).replicas ?? 1), 0);
    return { pods, endpoints, expectedPods };
  }

  async endpoints(): Promise<DemoEndpoints> {
    if (this.eps) return this.eps;
    const rt = this.rt!;
    const find = (ns: string, label: string, value: string) => rt.pods().find((p) => p.namespace === ns && p.labels[label] === value);
    const cp = find('istio-system', 'app', 'istiod');
    const gw = find('istio-system', 'istio', 'ingressgateway');
    const side = find('default', 'app', 'todolist') ?? rt.pods().find((p) => p.containers.some((c) => c.name === 'istio-proxy' && c.sidecar));
    if (!cp || !gw || !side) throw new Error('the control plane, gateway or a sidecar pod is missing');
    const open = async (host: string, port: number, preferred = 0) => {
      const f = await Forward.open({ host, port }, preferred);
      this.forwards.push(f);
      return `http://127.0.0.1:${f.port}`;
    };
    const dir = join(rt.runDir, 'demo');
    mkdirSync(dir, { recursive: true });
    const rootCaFile = join(dir, 'root-cert.pem');
    writeFileSync(rootCaFile, rt.pki?.rootPem ?? '');
    this.eps = {
      gatewayHttp: `http://127.0.0.1:${rt.hostPort(80)}`,
      gatewayHttps: `https://localhost:${rt.hostPort(443)}`,
      httpsHost: 'localhost',
      controlPlane: await open(cp.ip, 15014, this.opts.controlPlanePort),
      gatewayMetrics: await open(gw.ip, 15020),
      sidecarMetrics: await open(side.ip, 15020),
      sidecarPod: `${side.namespace}/${side.name}`,
      rootCaFile,
      ...(typeof this.otlp === 'object' ? { otlp: this.otlp } : { tracesMissing: this.otlp }),
    };
    await this.startPrometheus(rt);
    return this.eps;
  }

  /** Starts Debian's Prometheus over the runtime's pods when it is installed; the demo runs without it otherwise. */
  private async startPrometheus(rt: LocalRuntime): Promise<void> {
    const eps = this.eps!;
    const missing = prometheusUnavailable();
    if (missing) {
      eps.prometheusMissing = `${missing}; the demo runs without it`;
      return;
    }
    try {
      const port = (await portFree(9090)) ? 9090 : await freeLoopbackPort();
      this.prom = await startPrometheus({
        dir: join(rt.runDir, 'prometheus'),
        port,
        pods: () => scrapePodsOf(rt),
        // 2 s scrapes: the dashboard's 15 s rate window follows the canary within seconds
        scrapeIntervalSeconds: 2,
      });
      eps.prometheus = this.prom.url;
    } catch (err) {
      eps.prometheusMissing = `${(err as Error).message}; the demo runs without it`;
    }
  }

  /** The demo's Prometheus, when it runs. */
  get prometheus(): RunningPrometheus | undefined {
    return this.prom;
  }

  /**
   * `--gateway-api`: the Secret `default/todolist-gateway-cert` issued from the run's mesh root, then
   * infra/k8s/gateway-api (its Gateway has no addresses, so the runtime's Gateway deployment
   * controller deploys `todolist-gateway-istio`); its listeners answer on that Service's VIP.
   */
  async gatewayApi(): Promise<GatewayApiDemo> {
    const rt = this.rt!;
    if (!rt.pki) throw new Error('the runtime made no mesh PKI');
    await rt.apply(await rt.pki.tlsSecret('default', 'todolist-gateway-cert', ['todolist.example.com']));
    const refused = await rt.applyFiles([join(this.root, 'infra/k8s/gateway-api')]);
    if (refused.length) throw new Error(`infra/k8s/gateway-api: ${refused.map((r) => `${r.kind} ${r.key}: ${r.reason}`).join('; ')}`);
    await rt.waitReady({ timeoutMs: 120_000, namespace: 'default', selector: { 'gateway.networking.k8s.io/gateway-name': 'todolist-gateway' } });
    const vip = rt.serviceIP('default', 'todolist-gateway-istio');
    if (!vip) throw new Error('the Gateway todolist-gateway got no Service todolist-gateway-istio');
    const kindDir: Record<string, string> = { Gateway: 'gateway.gateway.networking.k8s.io', HTTPRoute: 'httproute', GatewayClass: 'gatewayclass' };
    return {
      http: `http://${vip}:80`,
      https: { host: vip, port: 443 },
      delete: (yaml) => rt.delete(yaml),
      statusFile: (kind, namespace, name) => {
        const f = join(rt.configDir, kindDir[kind] ?? kind.toLowerCase(), `${namespace || '_cluster'}.${name}.status.yaml`);
        return existsSync(f) ? f : undefined;
      },
      configDir: rt.configDir,
    };
  }

  async apply(yaml: string): Promise<string[]> {
    const { parseAllDocuments } = await import('yaml');
    const objs = parseAllDocuments(yaml).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null).filter((o) => o?.kind);
    await this.rt!.apply(yaml);
    return objs.map((o) => `${o!.kind} ${o!.metadata?.namespace ?? 'default'}/${o!.metadata?.name}`);
  }

  /** The directory watched for YAML to apply while the demo runs. */
  get applyDir(): string {
    const d = join(this.rt!.runDir, 'apply');
    mkdirSync(d, { recursive: true });
    return d;
  }

  applyHint(file: string): string {
    return `cp ${file} ${this.applyDir}/`;
  }

  async diagnose(podKey: string): Promise<string[]> {
    const rt = this.rt;
    if (!rt) return [];
    const [ns, name] = podKey.split('/');
    const p = rt.pods().find((x) => x.namespace === ns && x.name === name);
    const out: string[] = [];
    for (const c of p?.containers ?? []) {
      out.push(`${c.name}: ${c.state}${c.ready ? ', ready' : ', not ready'}${c.restartCount ? `, ${c.restartCount} restarts` : ''}`);
      const f = rt.logPath(ns, name, c.name);
      if (!c.ready && existsSync(f)) for (const l of readFileSync(f, 'utf8').trimEnd().split('\n').filter(Boolean).slice(-4)) out.push(`  ${l.slice(0, 300)}`);
    }
    return out;
  }

  async down(): Promise<string[]> {
    for (const f of this.forwards.splice(0)) f.close();
    await this.prom?.stop();
    this.prom = undefined;
    // Stopped while starting: let the start finish, then stop what it made.
    if (!this.rt && this.starting) await this.starting.catch(() => undefined);
    const rt = this.rt;
    if (!rt) return [];
    this.pids = rt.pods().flatMap((p) => p.containers.map((c) => c.pid ?? 0)).filter((p) => p > 0);
    await rt.stop();
    return leftovers(rt.names.id, this.pids);
  }
}

/** What a stopped run left on the host: namespaces, links, iptables chains, /etc/netns entries, processes. */
export function leftovers(runId: string, pids: number[]): string[] {
  const out: string[] = [];
  const ns = `tsm-${runId}-`;
  const bridge = `tsm${runId}`;
  const chain = `TSM-${runId}-`;
  for (const l of cmd('ip', ['netns', 'list']).split('\n')) if (l.startsWith(ns)) out.push(`network namespace ${l.split(' ')[0]}`);
  for (const l of cmd('ip', ['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(l)?.[1];
    if (name && (name === bridge || name.startsWith(`${bridge}v`))) out.push(`link ${name}`);
  }
  for (const table of ['nat', 'filter']) for (const l of cmd('iptables-save', ['-t', table]).split('\n')) if (l.includes(chain)) out.push(`iptables ${table}: ${l}`);
  if (existsSync('/etc/netns')) for (const d of readdirSync('/etc/netns')) if (d.startsWith(ns)) out.push(`/etc/netns/${d}`);
  for (const pid of pids) {
    try {
      process.kill(pid, 0);
      out.push(`process ${pid}`);
    } catch {
      // gone
    }
  }
  return out;
}
