/** The local driver: the mesh on this machine's local runtime (`@tsmesh/local-runtime`), as root. */
import { existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hostAddress, IMAGES, ImageStore, imagesWithTracing, LocalRuntime, prometheusUnavailable, scrapePodsOf, startPrometheus, type FromImagesOptions, type RunningPrometheus } from '@tsmesh/local-runtime';
import { parseStatusFile } from '@tsmesh/mesh-config';
import { createServer } from 'node:net';
import type { ExecOutput, MeshDriver } from './types';

/** The seven images of infra/docker. */
export const APP_IMAGES = ['proxy', 'control-plane', 'ca', 'injector', 'todolist', 'caller', 'callme'];

/**
 * The tag the local driver builds the images under in image mode: one per checkout
 * (`e2e-<hash of its path>`), so neither infra's image tests (`latest`) nor another checkout's
 * run ever rebuild the images a run is using.
 */
export function imageTag(root: string): string {
  return `e2e-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
}

/** Options of the local driver. */
export interface LocalDriverOptions {
  /**
   * Run every container from its image (the runtime's `fromImages`): the seven images are built
   * first (`infra/docker/build-images.sh --host --tag <imageTag>`) and the manifests' `tsmesh/<app>:latest`
   * run as those. Default: on when `E2E_LOCAL_IMAGES=1`.
   */
  fromImages?: boolean;
}

async function freePort(host: string): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Runs the mesh on the local runtime: pods in network namespaces, the real injector, sidecars, gateway. */
export class LocalDriver implements MeshDriver {
  readonly name = 'local' as const;
  private rt?: LocalRuntime;
  private prom?: Promise<RunningPrometheus | string>;
  private otlp?: { host: string; port: number } | string;

  readonly fromImages: boolean;

  constructor(private readonly root: string, private readonly log: (line: string) => void = () => {}, opts: LocalDriverOptions = {}) {
    this.fromImages = opts.fromImages ?? process.env.E2E_LOCAL_IMAGES === '1';
  }

  async unavailable(): Promise<string | null> {
    if (process.platform !== 'linux') return 'the local runtime needs Linux (network namespaces, iptables)';
    if (process.getuid?.() !== 0) return 'the local runtime needs root (network namespaces, iptables)';
    if (this.fromImages) {
      const why = await new ImageStore().unavailable();
      if (why) return `running the images: ${why}`;
    }
    return null;
  }

  /** Builds the images under this checkout's tag; the runtime runs them for the manifests' `:latest`. */
  private async buildImages(): Promise<FromImagesOptions> {
    const tag = imageTag(this.root);
    const t0 = Date.now();
    await promisify(execFile)('bash', [join(this.root, 'infra/docker/build-images.sh'), '--host', '--tag', tag, ...APP_IMAGES], { cwd: this.root, timeout: 900_000, maxBuffer: 16 << 20 });
    this.log(`images tsmesh/*:${tag} built or up to date in ${Math.round((Date.now() - t0) / 1000)} s`);
    return { rewrite: Object.fromEntries(APP_IMAGES.map((a) => [`tsmesh/${a}:latest`, `tsmesh/${a}:${tag}`])) };
  }

  /** The runtime, once up. */
  get runtime(): LocalRuntime {
    if (!this.rt) throw new Error('the mesh is not up');
    return this.rt;
  }

  async up(): Promise<void> {
    const fromImages = this.fromImages ? await this.buildImages() : undefined;
    // The proxies (gateway and sidecars) export traces over OTLP/HTTP to this machine, where the
    // tracing scenario runs the receiver; sampling stays at its default (1 %) and the scenario
    // sends sampled trace headers, which every hop follows. (From images, the proxies run as the
    // image says, with no tracing.)
    const host = fromImages || process.env.E2E_TRACING === '0' ? undefined : hostAddress();
    this.otlp = fromImages ? 'the proxies run from their images (E2E_LOCAL_IMAGES=1), started without --tracing-otlp'
      : process.env.E2E_TRACING === '0' ? 'E2E_TRACING=0: the proxies were started without --tracing-otlp'
      : host ? { host, port: await freePort(host) } : 'this machine has no IPv4 address the pods can reach besides loopback';
    const otlp = typeof this.otlp === 'object' ? `http://${this.otlp.host}:${this.otlp.port}/v1/traces` : undefined;
    this.rt = await LocalRuntime.start({
      fromImages,
      workspaceRoot: this.root,
      manifests: [join(this.root, 'infra/k8s/base')],
      gatewayCertHosts: ['todolist.example.com', 'localhost'],
      log: this.log,
      images: otlp ? imagesWithTracing(otlp) : IMAGES,
    });
    await this.rt.waitReady({ timeoutMs: 240_000 });
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await this.runtime.waitReady({ timeoutMs });
  }

  async rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void> {
    await this.runtime.waitRollout(`${namespace}/${name}`, { timeoutMs });
  }

  /** Debian's Prometheus over the runtime's pods (1 s scrapes), started on first use. */
  prometheus(): Promise<RunningPrometheus | string> {
    this.prom ??= (async () => {
      const missing = prometheusUnavailable();
      if (missing) return missing;
      const s = createServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const port = (s.address() as { port: number }).port;
      await new Promise((r) => s.close(r));
      const rt = this.runtime;
      return startPrometheus({ dir: join(rt.runDir, 'prometheus'), port, pods: () => scrapePodsOf(rt), scrapeIntervalSeconds: 1, refreshMs: 1000 });
    })();
    return this.prom;
  }

  otlpReceiver(): { host: string; port: number } | string {
    return this.otlp ?? 'the mesh is not up';
  }

  async down(): Promise<void> {
    const p = await this.prom?.catch(() => undefined);
    if (p && typeof p !== 'string') await p.stop();
    this.prom = undefined;
    await this.rt?.stop();
    this.rt = undefined;
  }

  async apply(yaml: string): Promise<void> {
    await this.runtime.apply(yaml);
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
    if (!pod) throw new Error(`no pod in ${namespace} with labels ${JSON.stringify(labels)}`);
    return this.runtime.exec(pod, argv, { uid: opts.uid, timeoutMs: 60_000 });
  }

  podIP(namespace: string, labels: Record<string, string>): string {
    const pod = this.runtime.pod(namespace, labels);
    if (!pod) throw new Error(`no pod in ${namespace} with labels ${JSON.stringify(labels)}`);
    const info = this.runtime.pods().find((p) => p.namespace === namespace && p.name === pod.name);
    if (!info) throw new Error(`pod ${namespace}/${pod.name} has no status`);
    return info.ip;
  }

  restarts(namespace: string, labels: Record<string, string>, container: string): number {
    const pod = this.runtime.pod(namespace, labels);
    const info = this.runtime.pods().find((p) => p.namespace === namespace && p.name === pod?.name);
    return info?.containers.find((c) => c.name === container)?.restartCount ?? -1;
  }

  async killContainer(namespace: string, labels: Record<string, string>, container: string): Promise<void> {
    const pod = this.runtime.pod(namespace, labels);
    const c = pod?.container(container);
    if (!c) throw new Error(`no container ${container} in a pod of ${namespace} with labels ${JSON.stringify(labels)}`);
    // Returns once the container has died, as `kubectl` does once the kill has taken effect, so a
    // readiness wait that follows sees the pod without it.
    const exited = c.waitExit();
    c.signal('SIGKILL');
    await exited;
  }

  async rotateGatewayCert(hosts: string[]): Promise<void> {
    await this.issueTlsSecret('istio-system', 'tsmesh-gateway-cert', hosts);
  }

  async issueTlsSecret(namespace: string, name: string, hosts: string[]): Promise<void> {
    const pki = this.runtime.pki;
    if (!pki) throw new Error('the runtime made no mesh PKI');
    await this.runtime.apply(await pki.tlsSecret(namespace, name, hosts));
  }

  async gatewayApiStatus(kind: string, namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    // The file store's status file beside the runtime's config file of the object.
    const dir = kind === 'Gateway' ? 'gateway.gateway.networking.k8s.io' : kind.toLowerCase();
    const file = join(this.runtime.configDir, dir, `${namespace || '_cluster'}.${name}.status.yaml`);
    if (!existsSync(file)) return undefined;
    return parseStatusFile(readFileSync(file, 'utf8'), file).find((s) => s.name === name)?.status;
  }

  async delete(yaml: string): Promise<void> {
    await this.runtime.delete(yaml);
  }

  async serviceAddress(namespace: string, name: string, port: number): Promise<{ host: string; port: number }> {
    const vip = this.runtime.serviceIP(namespace, name);
    if (!vip) throw new Error(`Service ${namespace}/${name} has no VIP (not applied?)`);
    return { host: vip, port };
  }

  watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }> {
    return this.runtime.watchWire(pattern);
  }

  async rootCertPem(): Promise<string> {
    const pem = this.runtime.pki?.rootPem;
    if (!pem) throw new Error('the runtime made no mesh PKI');
    return pem;
  }
}

