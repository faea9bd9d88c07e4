/**
 * The API server's write path over the object store: `apply` (kubectl's ordering for a whole
 * tree, namespace defaulting, a Namespace created for objects that name a missing one, per-kind
 * validation that refuses what the runtime cannot run by name and field, ClusterIP allocation,
 * the injector webhook's `caBundle`), `delete`, and pod creation through the admission chain
 * (names from `generateName`, every matching mutating webhook called over HTTPS, retried with
 * backoff while the webhook is unreachable, as a controller's create would be) and binding to the
 * node. Pod deletion sets `deletionTimestamp`; the kubelet terminates the pod and removes it.
 */
import { admitPod, AdmissionError } from './admission';
import { validateCronJob } from './cronjobs';
import { validateDeployment } from './deployments';
import { storeKind } from './gateway-deployer';
import { validateJob } from './jobs';
import { admitName, dataOf, defaultPodSpec, isClusterScoped, keyOf, parseManifests, type KubeObject, type PodObject, type ServiceObject } from './kube';
import type { EventRecorder } from './events';
import type { ClusterIpAllocator } from './service-ips';
import { validateStatefulSet } from './statefulsets';
import type { ObjectStore } from './store';

/** An object {@link ApiServer.apply} did not run, and why (the other objects were applied). */
export interface Refusal {
  kind: string;
  key: string;
  reason: string;
}

/** Workload kinds stored but not run. */
const NOT_RUN = new Set(['DaemonSet', 'ReplicaSet', 'ReplicationController']);

/** A pod create still going through admission. */
export interface PendingPod {
  owner: string;
  cancelled: boolean;
}

/** What the API server needs besides the store. */
export interface ApiHost {
  store: ObjectStore;
  ips: ClusterIpAllocator;
  nodeName: string;
  /** Resolves once the kubelet has set up the pod's sandbox (rejects if it could not). */
  whenStarted(key: string): Promise<unknown>;
  /** Resolves once the Pod object is gone. */
  whenGone(key: string): Promise<void>;
  /** False once the runtime is stopping. */
  running(): boolean;
  events: EventRecorder;
  log(line: string): void;
}

/** The owner string of a pod: `<controller kind>/<namespace>/<name>` from its controller reference, or `Pod`. */
export function ownerOf(pod: KubeObject): string {
  const ref = pod.metadata.ownerReferences?.find((r) => r.controller) ?? pod.metadata.ownerReferences?.[0];
  return ref ? `${ref.kind}/${pod.metadata.namespace ?? 'default'}/${ref.name}` : 'Pod';
}

/** The API server's write path. */
export class ApiServer {
  /** Pod creates in admission, by a placeholder key. */
  readonly pending = new Map<string, PendingPod>();
  private seq = 0;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly host: ApiHost) {}

  /**
   * Creates or updates objects (YAML text or objects): Namespaces and CRDs first, then
   * ServiceAccounts, Secrets and ConfigMaps, then Services, then the rest, workloads last.
   * An object the runtime cannot run is logged with its kind, name and reason and returned.
   */
  async apply(input: string | KubeObject | KubeObject[]): Promise<Refusal[]> {
    const objs = typeof input === 'string' ? parseManifests(input) : Array.isArray(input) ? input : [input];
    const rank = (k: string) => (['Namespace', 'CustomResourceDefinition'].includes(k) ? 0 : ['ServiceAccount', 'Secret', 'ConfigMap'].includes(k) ? 1 : k === 'Service' ? 2 : ['Deployment', 'Pod', 'MutatingWebhookConfiguration'].includes(k) ? 4 : 3);
    const sorted = objs.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i).map((x) => x.o);
    const refused: Refusal[] = [];
    for (const o of sorted) {
      try {
        await this.applyOne(structuredClone(o));
      } catch (err) {
        const key = o.metadata?.name ? `${isClusterScoped(o.kind) ? '' : `${o.metadata.namespace ?? 'default'}/`}${o.metadata.name}` : '(unnamed)';
        const reason = (err as Error).message;
        refused.push({ kind: o.kind, key, reason });
        this.host.log(`refused ${o.kind} ${key}: ${reason}`);
      }
    }
    return refused;
  }

  /** Creates or updates one object; throws with the reason when it cannot run. */
  async applyOne(o: KubeObject): Promise<void> {
    if (!this.host.running()) return;
    if (!isClusterScoped(o.kind)) o.metadata.namespace ??= 'default';
    if (o.kind === 'Namespace') o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name ?? '' };
    if (o.kind !== 'Pod' && o.kind !== 'Namespace' && !isClusterScoped(o.kind)) await this.ensureNamespace(o.metadata.namespace!);
    if (o.kind === 'Pod') {
      await this.createPod(o as PodObject);
      return;
    }
    const key = keyOf(o);
    const invalid = o.kind === 'Job' ? validateJob(o) : o.kind === 'StatefulSet' ? validateStatefulSet(o) : o.kind === 'CronJob' ? validateCronJob(o) : o.kind === 'Deployment' ? validateDeployment(o) : undefined;
    if (invalid) throw new Error(invalid);
    if (NOT_RUN.has(o.kind)) {
      this.host.store.put(o);
      throw new Error(`${o.kind} ${key} is stored but not run: the local runtime runs Deployments, StatefulSets, Jobs, CronJobs and Pods`);
    }
    if (o.kind === 'Service') this.host.ips.assign(o as ServiceObject);
    if (o.kind === 'MutatingWebhookConfiguration') this.fillCaBundle(o);
    await this.host.store.apply(o);
    if (o.kind === 'Secret' && o.metadata.name === 'istio-sidecar-injector-certs') {
      for (const w of this.host.store.list('MutatingWebhookConfiguration')) {
        this.fillCaBundle(w);
        this.host.store.put(w);
      }
    }
  }

  /** Creates `ns` if it does not exist. */
  async ensureNamespace(ns: string): Promise<void> {
    if (!this.host.store.get('Namespace', ns)) await this.applyOne({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  /** Deletes objects (YAML text or objects), or one by kind and key; resolves once their dependents' teardown has settled. */
  async delete(input: string | KubeObject | KubeObject[], key?: string): Promise<void> {
    const objs = typeof input === 'string' && key !== undefined
      ? [this.host.store.get(input, key) ?? { apiVersion: 'v1', kind: input, metadata: { name: key.split('/').pop(), namespace: key.includes('/') ? key.split('/')[0] : undefined } }]
      : typeof input === 'string' ? parseManifests(input) : Array.isArray(input) ? input : [input];
    for (const o of objs) {
      if (!isClusterScoped(o.kind)) o.metadata.namespace ??= 'default';
      const k = keyOf(o);
      if (o.kind === 'Pod') {
        await this.deletePod(k);
        continue;
      }
      const removed = await this.host.store.remove(typeof input === 'string' && key !== undefined ? input : storeKind(o), k);
      if (removed && o.kind === 'Service') this.host.ips.release(k);
    }
  }

  /**
   * Creates a pod as the API server does: name and uid, the admission chain (retried with backoff
   * while a webhook is unreachable, unless the pod was applied directly), bound to the node.
   * Resolves with its key once the kubelet has set up its sandbox; undefined when cancelled.
   */
  createPod(input: PodObject, owner = ownerOf(input)): Promise<{ key: string } | undefined> {
    // Registered at once, so a controller counting its pods sees this one before it is admitted.
    const pendingKey = `pending:${++this.seq}`;
    const state: PendingPod = { owner, cancelled: false };
    this.pending.set(pendingKey, state);
    const p = this.doCreatePod(input, owner, state).finally(() => this.pending.delete(pendingKey));
    this.inflight.add(p);
    const forget = () => this.inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  private async doCreatePod(input: PodObject, owner: string, state: PendingPod): Promise<{ key: string } | undefined> {
    if (!this.host.running()) return undefined;
    const pod = structuredClone(input);
    pod.metadata.namespace ??= 'default';
    defaultPodSpec(pod.spec);
    await this.ensureNamespace(pod.metadata.namespace);
    admitName(pod);
    const nsLabels = this.host.store.get('Namespace', pod.metadata.namespace)?.metadata.labels ?? { 'kubernetes.io/metadata.name': pod.metadata.namespace };
    let admitted: PodObject | undefined;
    for (let attempt = 0; !admitted; attempt++) {
      if (state.cancelled || !this.host.running()) return undefined;
      try {
        const r = await admitPod(this.host.store.list('MutatingWebhookConfiguration'), pod, nsLabels, (ns, name, port) => {
          const vip = this.host.ips.get(`${ns}/${name}`);
          return vip ? { host: vip, port } : undefined;
        });
        admitted = r.pod;
        if (r.webhooks.length) this.host.log(`pod ${keyOf(pod)} admitted by ${r.webhooks.join(', ')}`);
      } catch (err) {
        if (!(err instanceof AdmissionError) || !err.retriable || owner === 'Pod') throw err;
        if (attempt % 5 === 0) this.host.log(`pod of ${owner}: ${err.message}; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
    if (state.cancelled || !this.host.running()) return undefined;
    const key = keyOf(admitted);
    if (this.host.store.get('Pod', key)) throw new Error(`pod ${key} already exists`);
    // Scheduling: one node.
    admitted.spec.nodeName = this.host.nodeName;
    admitted.status = { phase: 'Pending' };
    // In the store from here on (no longer counted as pending); the kubelet's watch starts the sandbox.
    state.cancelled = true;
    const started = this.host.store.apply(admitted);
    this.host.events.record(admitted, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${this.host.nodeName}`);
    await started;
    await this.host.whenStarted(key);
    return { key };
  }

  /** Deletes a pod gracefully (`namespace/name`, or a pending create's key); resolves once it is gone. */
  async deletePod(key: string): Promise<void> {
    const pend = this.pending.get(key);
    if (pend) {
      pend.cancelled = true;
      return;
    }
    const o = this.host.store.get('Pod', key);
    if (!o) return;
    if (!o.metadata.deletionTimestamp) {
      this.host.store.patch('Pod', key, (p) => {
        p.metadata.deletionTimestamp = new Date().toISOString();
        p.metadata.deletionGracePeriodSeconds = (p.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30;
      });
    }
    await this.host.whenGone(key);
  }

  /** Pod creates in flight (stop waits for them). */
  settle(): Promise<unknown> {
    return Promise.allSettled([...this.inflight]);
  }

  /** Keeps a webhook configuration's caBundle equal to the injector's ca.crt, as the injector does on a cluster. */
  private fillCaBundle(cfg: KubeObject): void {
    const certs = this.host.store.get('Secret', 'istio-system/istio-sidecar-injector-certs');
    const ca = certs ? dataOf(certs)['ca.crt'] : undefined;
    if (!ca) return;
    for (const w of (cfg.webhooks ?? []) as { clientConfig: { caBundle?: string; service?: { name: string } } }[]) {
      if (w.clientConfig.service?.name === 'istio-sidecar-injector' || !w.clientConfig.caBundle) w.clientConfig.caBundle = ca.toString('base64');
    }
  }
}
