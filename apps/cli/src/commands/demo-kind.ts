/**
 * The demo's mesh on a kind cluster (the approach of e2e/src/drivers/kind.ts): a cluster `tsmesh-demo`
 * from infra/kind/cluster.yaml (gateway NodePorts on the host's 80 and 443), images built by
 * infra/docker/build-images.sh and loaded with `kind load docker-image`, the mesh PKI Secrets made
 * here (as the local runtime makes them), infra/k8s/base applied unchanged with `kubectl apply
 * --server-side` (CRDs first, established before the rest), status read with `@kubernetes/client-node`;
 * the control plane and metrics reached through port-forwards on loopback.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KindCli, kindUnavailable, runCli as cli } from '@tsmesh/cluster';
import { stringify } from 'yaml';
import { loadManifests, MeshPki, parseManifests, type KubeObject } from '@tsmesh/local-runtime';
import type { DemoEndpoints, DemoMesh, MeshSnapshot, PodView, ProgressSink } from './demo-mesh';
import { DEMO_APPS, portFree } from './demo-local';

const NAMESPACES = ['istio-system', 'default'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The mesh on a kind cluster. */
export class KindMesh implements DemoMesh {
  readonly name = 'kind' as const;
  readonly cluster = 'tsmesh-demo';
  private kc?: k8s.KubeConfig;
  private pki?: MeshPki;
  private readonly servers: { server: Server; sockets: Set<Socket> }[] = [];
  private eps?: DemoEndpoints;
  private started = false;

  constructor(private readonly root: string, private readonly opts: { keepCluster: boolean; log: (line: string) => void }) {}

  /** kind ≥ v0.25.0 (the node image infra/kind/cluster.yaml pins), kubectl and a Docker engine. */
  unavailable(): Promise<string | null> {
    return kindUnavailable(new KindCli(this.cluster), '--kind');
  }

  async up(progress: ProgressSink, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    const clusters = (await cli('kind', ['get', 'clusters'])).split('\n').filter(Boolean);
    this.started = true;
    if (!clusters.includes(this.cluster)) {
      for (const p of [80, 443]) if (!(await portFree(p))) throw new Error(`host port ${p} is taken (another kind cluster from infra/kind/cluster.yaml?); the gateway's NodePorts need 80 and 443`);
      progress.note('kind', `cluster ${this.cluster}`, 'creating (infra/kind/cluster.yaml)');
      await cli('kind', ['create', 'cluster', '--name', this.cluster, '--config', join(this.root, 'infra/kind/cluster.yaml'), '--wait', '120s']);
    } else progress.note('kind', `cluster ${this.cluster}`, 'exists; reusing it');
    progress.note('images', 'tsmesh/<app>:latest', 'building (infra/docker/build-images.sh)');
    await cli('bash', [join(this.root, 'infra/docker/build-images.sh')], { cwd: this.root, timeoutMs: 1_800_000 });
    for (const app of DEMO_APPS) {
      await cli('kind', ['load', 'docker-image', '--name', this.cluster, `tsmesh/${app}:latest`]);
      progress.note('images', `tsmesh/${app}:latest`, `loaded into ${this.cluster}`);
    }
    this.kc = new k8s.KubeConfig();
    this.kc.loadFromString(await cli('kind', ['get', 'kubeconfig', '--name', this.cluster]));
    this.pki = await MeshPki.create();
    const sys = 'istio-system';
    const objs = loadManifests([join(this.root, 'infra/k8s/base')]);
    const first = objs.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
    const secrets = [
      await this.pki.cacertsSecret(sys),
      await this.pki.tlsSecret(sys, 'istio-sidecar-injector-certs', ['istio-sidecar-injector.istio-system.svc', 'istio-sidecar-injector.istio-system.svc.cluster.local', 'istio-sidecar-injector.istio-system', 'istio-sidecar-injector']),
      await this.pki.tlsSecret(sys, 'tsmesh-gateway-cert', ['localhost', 'todolist.example.com', 'tsmesh.local', '*.tsmesh.local']),
    ];
    // CRDs unchanged, and established before any Istio resource is created.
    await this.applyObjects(first);
    const crds = first.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => `crd/${o.metadata.name}`);
    await cli('kubectl', ['--context', `kind-${this.cluster}`, 'wait', '--for=condition=Established', '--timeout=120s', ...crds], { timeoutMs: 130_000 });
    await this.applyObjects([...secrets, ...objs.filter((o) => !first.includes(o))], progress);
    // A reused cluster runs pods of older :latest images (pull policy IfNotPresent): restart them on the loaded ones.
    if (clusters.includes(this.cluster)) {
      for (const ns of NAMESPACES) await cli('kubectl', ['--context', `kind-${this.cluster}`, 'rollout', 'restart', 'deployment', '-n', ns]);
    }
    for (;;) {
      const s = await this.snapshot();
      progress.snapshot(s);
      if (s.pods.length >= s.expectedPods && s.pods.every((p) => p.ready)) return;
      if (Date.now() > until) throw new Error(`pods not ready after ${timeoutMs} ms: ${s.pods.filter((p) => !p.ready).map((p) => p.key).join(', ') || 'none created yet'}`);
      await sleep(2000);
    }
  }

  /**
   * `kubectl apply --server-side` of the objects as plain YAML, every field as written (a typed
   * client model would drop CRD schema fields such as `enum`); retried while the API server is not
   * ready for them yet (a CRD being established, the injector's webhook starting).
   */
  private async applyObjects(objs: KubeObject[], progress?: ProgressSink): Promise<string[]> {
    const done = objs.map((o) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`);
    if (objs.length === 0) return done;
    const payload = objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
    for (let attempt = 0; ; attempt++) {
      try {
        await cli('kubectl', ['--context', `kind-${this.cluster}`, 'apply', '--server-side', '--force-conflicts', '--field-manager=tsmesh-demo', '-f', '-'], { input: payload });
        break;
      } catch (err) {
        if (attempt >= 60) throw new Error(`applying ${done.length} objects: ${(err as Error).message}`);
        await sleep(2000);
      }
    }
    progress?.note('applied', `${done.length} objects`, 'infra/k8s/base and the mesh PKI Secrets');
    return done;
  }

  async snapshot(): Promise<MeshSnapshot> {
    if (!this.kc) return { pods: [], endpoints: {}, expectedPods: 0 };
    const core = this.kc.makeApiClient(k8s.CoreV1Api);
    const apps = this.kc.makeApiClient(k8s.AppsV1Api);
    const disc = this.kc.makeApiClient(k8s.DiscoveryV1Api);
    const pods: PodView[] = [];
    const endpoints: Record<string, string[]> = {};
    let expectedPods = 0;
    for (const namespace of NAMESPACES) {
      for (const p of (await core.listNamespacedPod({ namespace })).items) {
        if (p.metadata?.deletionTimestamp) continue;
        const side = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find((c) => c.name === 'istio-proxy');
        const injected = (p.spec?.initContainers ?? []).some((c) => c.name === 'istio-proxy');
        pods.push({
          key: `${namespace}/${p.metadata?.name}`,
          ip: p.status?.podIP ?? '',
          ready: !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          sidecar: injected,
          sidecarReady: injected && !!side?.ready,
          restarts: [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].reduce((n, c) => n + c.restartCount, 0),
        });
      }
      for (const d of (await apps.listNamespacedDeployment({ namespace })).items) expectedPods += d.spec?.replicas ?? 1;
      for (const s of (await core.listNamespacedService({ namespace })).items) if (s.spec?.selector) endpoints[`${namespace}/${s.metadata?.name}`] = [];
      for (const s of (await disc.listNamespacedEndpointSlice({ namespace })).items) {
        const svc = `${namespace}/${s.metadata?.labels?.['kubernetes.io/service-name']}`;
        const list = (endpoints[svc] ??= []);
        for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false) list.push(`${e.addresses[0]}:${s.ports?.[0]?.port ?? '?'}`);
      }
    }
    return { pods, endpoints, expectedPods };
  }

  /** A loopback port forwarded to a pod's port through the API server (as `kubectl port-forward`). */
  private async forward(namespace: string, pod: string, port: number, preferred = 0): Promise<string> {
    const pf = new k8s.PortForward(this.kc!);
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      pf.portForward(namespace, pod, [port], socket, null, socket).catch(() => socket.destroy());
    });
    const listen = (p: number) =>
      new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(p, '127.0.0.1', () => res());
      });
    await listen(preferred).catch(() => listen(0));
    this.servers.push({ server, sockets });
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async endpoints(): Promise<DemoEndpoints> {
    if (this.eps) return this.eps;
    const core = this.kc!.makeApiClient(k8s.CoreV1Api);
    const first = async (namespace: string, labelSelector: string) => {
      const p = (await core.listNamespacedPod({ namespace, labelSelector })).items.find((x) => x.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      if (!p?.metadata?.name) throw new Error(`no ready pod ${labelSelector} in ${namespace}`);
      return p.metadata.name;
    };
    const cp = await first('istio-system', 'app=istiod');
    const gw = await first('istio-system', 'istio=ingressgateway');
    const side = await first('default', 'app=todolist');
    const dir = mkdtempSync('/tmp/tsmesh-demo-kind-');
    const rootCaFile = join(dir, 'root-cert.pem');
    writeFileSync(rootCaFile, this.pki!.rootPem);
    this.eps = {
      gatewayHttp: 'http://127.0.0.1:80',
      gatewayHttps: 'https://localhost:443',
      httpsHost: 'localhost',
      controlPlane: await this.forward('istio-system', cp, 15014, 15014),
      gatewayMetrics: await this.forward('istio-system', gw, 15020),
      sidecarMetrics: await this.forward('default', side, 15020),
      sidecarPod: `default/${side}`,
      rootCaFile,
      prometheusMissing: 'the kind path does not deploy Prometheus yet',
    };
    return this.eps;
  }

  async apply(yaml: string): Promise<string[]> {
    return this.applyObjects(parseManifests(yaml));
  }

  applyHint(file: string): string {
    return `kubectl --context kind-${this.cluster} apply -f ${file}`;
  }

  async diagnose(podKey: string): Promise<string[]> {
    if (!this.kc) return [];
    const [namespace, name] = podKey.split('/');
    const p = await this.kc.makeApiClient(k8s.CoreV1Api).readNamespacedPod({ namespace, name }).catch(() => undefined);
    return [...(p?.status?.initContainerStatuses ?? []), ...(p?.status?.containerStatuses ?? [])].map(
      (c) => `${c.name}: ${c.ready ? 'ready' : 'not ready'}${c.state?.waiting ? ` (${c.state.waiting.reason}: ${c.state.waiting.message ?? ''})` : ''}${c.restartCount ? `, ${c.restartCount} restarts` : ''}`,
    );
  }

  async down(): Promise<string[]> {
    for (const { server, sockets } of this.servers.splice(0)) {
      for (const s of sockets) s.destroy();
      server.close();
    }
    if (!this.started) return [];
    if (this.opts.keepCluster) {
      this.opts.log(`kept the kind cluster ${this.cluster} (--keep-cluster); delete it with: kind delete cluster --name ${this.cluster}`);
      return [];
    }
    await cli('kind', ['delete', 'cluster', '--name', this.cluster]).catch((err: Error) => this.opts.log(err.message));
    const left = (await cli('kind', ['get', 'clusters']).catch(() => '')).split('\n').filter((c) => c === this.cluster);
    return left.map((c) => `kind cluster ${c}`);
  }
}
