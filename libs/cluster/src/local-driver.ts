/**
 * The mesh on this machine's local runtime (`@tsmesh/local-runtime`): pods in network namespaces,
 * the real injector, sidecars and gateway, as root. The demo's local mesh and e2e's local driver.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { hostAddress, IMAGES, ImageStore, imagesWithTracing, LocalRuntime, prometheusUnavailable, scrapePodsOf, startPrometheus, type FromImagesOptions, type PodInfo, type RunningPrometheus } from '@tsmesh/local-runtime';
import { parseStatusFile } from '@tsmesh/mesh-config';
import { describeObjects, type ExecOutput, type GatewayApiMesh, type MeshDriver, type MeshSnapshot, type ProgressSink, type UpOptions } from './driver';
import { Forward, freeLoopbackPort, portFree } from './forward';
import { MESH_IMAGES } from './kind';

/**
 * The tag the local driver builds the images under in image mode: one per checkout
 * (`e2e-<hash of its path>`), so neither infra's image tests (`latest`) nor another checkout's
 * run ever rebuild the images a run is using.
 */
export function imageTag(root: string): string {
  return `e2e-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
}

/** Options of {@link LocalMeshDriver}. */
export interface LocalDriverOptions {
  /** The runtime's log lines. */
  log?: (line: string) => void;
  /**
   * Run every container from its image (the runtime's `fromImages`): the seven images are built
   * first (`infra/docker/build-images.sh --host --tag <imageTag>`) and the manifests' `tsmesh/<app>:latest`
   * run as those (the proxies then run as the images say, with no tracing).
   */
  fromImages?: boolean;
  /** Loopback ports for the gateway's ports 80 and 443 (taken or unset: another port). */
  hostPorts?: { http?: number; https?: number };
  /** DNS names of the gateway's certificate (`istio-system/tsmesh-gateway-cert`). */
  gatewayCertHosts?: string[];
  /**
   * Proxies export OTLP/HTTP traces to this machine (an address the pods reach through the bridge):
   * `port` preferred (default any free one), `samplingPercent` (default the proxies' own, 1 %). `false`: no tracing.
   */
  tracing?: false | { port?: number; samplingPercent?: number };
  /** The Prometheus {@link LocalMeshDriver.prometheus} starts: preferred port (default any), scrape interval (default 1 s). */
  prometheus?: { port?: number; scrapeIntervalSeconds?: number };
}

function cmd(bin: string, args: string[]): string {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

const noLabels = (labels: Record<string, string>) => JSON.stringify(labels);

/** The mesh on the local runtime. */
export class LocalMeshDriver implements MeshDriver {
  readonly name = 'local' as const;
  private rt?: LocalRuntime;
  private starting?: Promise<LocalRuntime | undefined>;
  private readonly forwards: Forward[] = [];
  private prom?: Promise<RunningPrometheus | string>;
  private otlp?: { host: string; port: number } | string;
  private lastRunDir?: string;
  readonly fromImages: boolean;

  constructor(private readonly root: string, private readonly opts: LocalDriverOptions = {}) {
    this.fromImages = !!opts.fromImages;
  }

  /** The runtime, once up. */
  get runtime(): LocalRuntime {
    if (!this.rt) throw new Error('the mesh is not up');
    return this.rt;
  }

  /** The run's directory (logs, config), also after down(): the runtime keeps it. */
  get runDir(): string | undefined {
    return this.rt?.runDir ?? this.lastRunDir;
  }

  async unavailable(): Promise<string | null> {
    if (process.platform !== 'linux') return 'the local runtime needs Linux (network namespaces, iptables)';
    if (process.getuid?.() !== 0) return 'the local runtime needs root: pods get network namespaces, veths and iptables rules (run it with sudo)';
    for (const bin of ['ip', 'iptables', 'setpriv']) if (!cmd('sh', ['-c', `command -v ${bin}`]).trim()) return `the local runtime needs \`${bin}\` (iproute2, iptables, util-linux)`;
    if (this.fromImages) {
      const why = await new ImageStore().unavailable();
      return why ? `running the images: ${why}` : null;
    }
    const missing = MESH_IMAGES.filter((a) => !existsSync(join(this.root, 'dist/apps', a, 'main.js')));
    if (missing.length) return `the apps are not built (${missing.join(', ')}): run \`npm run demo\`, or \`nx run-many -t build -p ${MESH_IMAGES.join(' ')}\` first`;
    return null;
  }

  /** Builds the images under this checkout's tag; the runtime runs them for the manifests' `:latest`. */
  private async buildImages(): Promise<FromImagesOptions> {
    const tag = imageTag(this.root);
    const t0 = Date.now();
    await promisify(execFile)('bash', [join(this.root, 'infra/docker/build-images.sh'), '--host', '--tag', tag, ...MESH_IMAGES], { cwd: this.root, timeout: 900_000, maxBuffer: 16 << 20 });
    this.log(`images tsmesh/*:${tag} built or up to date in ${Math.round((Date.now() - t0) / 1000)} s`);
    return { rewrite: Object.fromEntries(MESH_IMAGES.map((a) => [`tsmesh/${a}:latest`, `tsmesh/${a}:${tag}`])) };
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Where the proxies export traces: an address of this machine the pods reach, or why there is none. */
  private async tracingTarget(): Promise<{ host: string; port: number } | string> {
    const t = this.opts.tracing;
    if (this.fromImages) return 'the proxies run from their images, started without --tracing-otlp';
    if (t === false) return 'tracing is off: the proxies were started without --tracing-otlp';
    const host = hostAddress();
    if (!host) return 'this machine has no IPv4 address the pods can reach besides loopback';
    return { host, port: t?.port && (await portFree(t.port, host)) ? t.port : await freeLoopbackPort(host) };
  }

  async up(o: UpOptions = {}): Promise<void> {
    const progress = o.progress;
    const fromImages = this.fromImages ? await this.buildImages() : undefined;
    const hostPorts: Record<number, number> = {};
    for (const [svc, want] of [[80, this.opts.hostPorts?.http], [443, this.opts.hostPorts?.https]] as const) {
      if (want && !(await portFree(want))) progress?.note('note', `127.0.0.1:${want} is in use`, `the gateway's port ${svc} gets another loopback port`);
      else if (want) hostPorts[svc] = want;
    }
    this.otlp = await this.tracingTarget();
    const otlp = typeof this.otlp === 'object' ? `http://${this.otlp.host}:${this.otlp.port}/v1/traces` : undefined;
    const sampling = this.opts.tracing ? this.opts.tracing.samplingPercent : undefined;
    const retried = new Set<string>();
    this.starting = LocalRuntime.start({
      fromImages,
      workspaceRoot: this.root,
      manifests: [join(this.root, 'infra/k8s/base')],
      images: otlp ? imagesWithTracing(otlp, sampling) : IMAGES,
      gatewayCertHosts: this.opts.gatewayCertHosts ?? ['todolist.example.com', 'localhost'],
      hostPorts,
      log: (line) => {
        this.log(line);
        if (progress) progressNote(progress, line, retried);
      },
    }).then((rt) => (this.rt = rt));
    const rt = (await this.starting)!;
    const timer = progress ? setInterval(() => void this.snapshot().then((s) => progress.snapshot(s)), 300) : undefined;
    try {
      await rt.waitReady({ timeoutMs: o.timeoutMs ?? 240_000 });
    } finally {
      clearInterval(timer);
    }
    progress?.snapshot(await this.snapshot());
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await this.runtime.waitReady({ timeoutMs });
  }

  async rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void> {
    await this.runtime.waitRollout(`${namespace}/${name}`, { timeoutMs });
  }

  async apply(yaml: string): Promise<string[]> {
    const objs = parseAllDocuments(yaml).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null).filter((x): x is NonNullable<typeof x> => !!x);
    await this.runtime.apply(yaml);
    return describeObjects(objs);
  }

  async delete(yaml: string): Promise<void> {
    await this.runtime.delete(yaml);
  }

  /** The directory watched for YAML to apply while the mesh runs (`<runDir>/apply`). */
  get applyDir(): string | undefined {
    if (!this.rt) return undefined;
    const d = join(this.rt.runDir, 'apply');
    mkdirSync(d, { recursive: true });
    return d;
  }

  applyHint(file: string): string {
    return `cp ${file} ${this.applyDir ?? '<run dir>/apply'}/`;
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

  async logs(podKey: string, container: string, tailLines?: number): Promise<string> {
    const [ns, name] = podKey.split('/');
    const f = this.runtime.logPath(ns, name, container);
    if (!existsSync(f)) throw new Error(`no log of container ${container} of pod ${podKey} (${f})`);
    const text = readFileSync(f, 'utf8');
    return tailLines === undefined ? text : `${text.trimEnd().split('\n').slice(-tailLines).join('\n')}\n`;
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

  /** The first ready (else any) pod matching `labels`, with its status. */
  private podInfo(namespace: string, labels: Record<string, string>): PodInfo {
    const pod = this.runtime.pod(namespace, labels);
    const info = pod && this.runtime.pods().find((p) => p.namespace === namespace && p.name === pod.name);
    if (!info) throw new Error(`no pod in ${namespace} with labels ${noLabels(labels)}`);
    return info;
  }

  async serviceAddress(namespace: string, name: string, port: number): Promise<{ host: string; port: number }> {
    const vip = this.runtime.serviceIP(namespace, name);
    if (!vip) throw new Error(`Service ${namespace}/${name} has no VIP (not applied?)`);
    return { host: vip, port };
  }

  async forward(namespace: string, labels: Record<string, string>, port: number, preferred = 0): Promise<{ url: string; pod: string }> {
    const p = this.podInfo(namespace, labels);
    const f = await Forward.open({ host: p.ip, port }, preferred);
    this.forwards.push(f);
    return { url: `http://127.0.0.1:${f.port}`, pod: `${p.namespace}/${p.name}` };
  }

  gatewayHttp(): string {
    return `http://127.0.0.1:${this.runtime.hostPort(80)}`;
  }

  gatewayHttps(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.runtime.hostPort(443) };
  }

  controlPlane(): string {
    const pod = this.runtime.pods().find((p) => p.namespace === 'istio-system' && (p.labels.app === 'istiod' || p.labels.app === 'control-plane'));
    if (!pod) throw new Error('no control plane pod');
    return `http://${pod.ip}:15014`;
  }

  async exec(namespace: string, labels: Record<string, string>, argv: string[], opts: { uid?: number } = {}): Promise<ExecOutput> {
    const pod = this.runtime.pod(namespace, labels);
    if (!pod) throw new Error(`no pod in ${namespace} with labels ${noLabels(labels)}`);
    return this.runtime.exec(pod, argv, { uid: opts.uid, timeoutMs: 60_000 });
  }

  podIP(namespace: string, labels: Record<string, string>): string {
    return this.podInfo(namespace, labels).ip;
  }

  restarts(namespace: string, labels: Record<string, string>, container: string): number {
    const pod = this.runtime.pod(namespace, labels);
    const info = this.runtime.pods().find((p) => p.namespace === namespace && p.name === pod?.name);
    return info?.containers.find((c) => c.name === container)?.restartCount ?? -1;
  }

  async killContainer(namespace: string, labels: Record<string, string>, container: string): Promise<void> {
    const c = this.runtime.pod(namespace, labels)?.container(container);
    if (!c) throw new Error(`no container ${container} in a pod of ${namespace} with labels ${noLabels(labels)}`);
    // Returns once the container has died, as `kubectl` does once the kill has taken effect, so a
    // readiness wait that follows sees the pod without it.
    const exited = c.waitExit();
    c.signal('SIGKILL');
    await exited;
  }

  async issueTlsSecret(namespace: string, name: string, hosts: string[]): Promise<void> {
    const pki = this.runtime.pki;
    if (!pki) throw new Error('the runtime made no mesh PKI');
    await this.runtime.apply(await pki.tlsSecret(namespace, name, hosts));
  }

  async rotateGatewayCert(hosts: string[]): Promise<void> {
    await this.issueTlsSecret('istio-system', 'tsmesh-gateway-cert', hosts);
  }

  /** The file store's status file of an object, beside its config file (`<configDir>/<kind dir>/<namespace>.<name>.status.yaml`). */
  private statusFile(kind: string, namespace: string, name: string): string | undefined {
    const dir: Record<string, string> = { Gateway: 'gateway.gateway.networking.k8s.io' };
    const f = join(this.runtime.configDir, dir[kind] ?? kind.toLowerCase(), `${namespace || '_cluster'}.${name}.status.yaml`);
    return existsSync(f) ? f : undefined;
  }

  async gatewayApiStatus(kind: string, namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    const file = this.statusFile(kind, namespace, name);
    return file ? parseStatusFile(readFileSync(file, 'utf8'), file).find((s) => s.name === name)?.status : undefined;
  }

  watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }> {
    return this.runtime.watchWire(pattern);
  }

  async rootCertPem(): Promise<string> {
    const pem = this.runtime.pki?.rootPem;
    if (!pem) throw new Error('the runtime made no mesh PKI');
    return pem;
  }

  /** Debian's Prometheus over the runtime's pods, started on first use. */
  prometheus(): Promise<RunningPrometheus | string> {
    this.prom ??= (async () => {
      const missing = prometheusUnavailable();
      if (missing) return missing;
      const rt = this.runtime;
      const want = this.opts.prometheus?.port;
      const port = want && (await portFree(want)) ? want : await freeLoopbackPort();
      const scrape = this.opts.prometheus?.scrapeIntervalSeconds ?? 1;
      return startPrometheus({ dir: join(rt.runDir, 'prometheus'), port, pods: () => scrapePodsOf(rt), scrapeIntervalSeconds: scrape, refreshMs: scrape * 1000 });
    })().catch((err: Error) => err.message);
    return this.prom;
  }

  otlpReceiver(): { host: string; port: number } | string {
    return this.otlp ?? 'the mesh is not up';
  }

  /**
   * The Secret `default/todolist-gateway-cert` issued from the run's mesh root, then
   * infra/k8s/gateway-api (its Gateway has no addresses, so the runtime's Gateway deployment
   * controller deploys `todolist-gateway-istio`); its listeners answer on that Service's VIP.
   */
  async gatewayApi(): Promise<GatewayApiMesh> {
    const rt = this.runtime;
    await this.issueTlsSecret('default', 'todolist-gateway-cert', ['todolist.example.com']);
    const refused = await rt.applyFiles([join(this.root, 'infra/k8s/gateway-api')]);
    if (refused.length) throw new Error(`infra/k8s/gateway-api: ${refused.map((r) => `${r.kind} ${r.key}: ${r.reason}`).join('; ')}`);
    await rt.waitReady({ timeoutMs: 120_000, namespace: 'default', selector: { 'gateway.networking.k8s.io/gateway-name': 'todolist-gateway' } });
    const vip = rt.serviceIP('default', 'todolist-gateway-istio');
    if (!vip) throw new Error('the Gateway todolist-gateway got no Service todolist-gateway-istio');
    return {
      http: `http://${vip}:80`,
      https: { host: vip, port: 443 },
      statusFile: (kind, namespace, name) => this.statusFile(kind, namespace, name),
      configDir: rt.configDir,
    };
  }

  async down(): Promise<string[]> {
    for (const f of this.forwards.splice(0)) f.close();
    const p = await this.prom?.catch(() => undefined);
    if (p && typeof p !== 'string') await p.stop();
    this.prom = undefined;
    // Stopped while starting: let the start finish, then stop what it made.
    if (!this.rt && this.starting) await this.starting.catch(() => undefined);
    const rt = this.rt;
    this.rt = undefined;
    this.starting = undefined;
    if (!rt) return [];
    this.lastRunDir = rt.runDir;
    const pids = rt.pods().flatMap((x) => x.containers.map((c) => c.pid ?? 0)).filter((x) => x > 0);
    await rt.stop();
    return leftovers(rt.names.id, pids);
  }
}

/** The runtime's log lines the demo's progress shows: the network, admission, published ports, warnings. */
function progressNote(progress: ProgressSink, line: string, retried: Set<string>): void {
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
