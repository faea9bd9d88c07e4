/**
 * The StatefulSet controller: pods with stable names `<set>-<ordinal>`, `hostname` = the pod name
 * and `subdomain` = `spec.serviceName` (so the headless Service gives each a DNS name), created in
 * ordinal order — with `podManagementPolicy: OrderedReady` (the default) each only once the one
 * before is Ready — removed from the highest ordinal down, and re-created under the same name when
 * deleted. A changed template replaces the pods from the highest ordinal down.
 *
 * A create that ends without the pod existing (refused, its sandbox could not be set up, cancelled)
 * re-queues the set with a per-pod back-off (100 ms doubling to 10 s, as a controller's rate-limited
 * work queue does): the pod's own DELETED event may have been handled while the create was still
 * counted in flight, so no later event would bring the set back to it.
 */
import { defaultPodSpec, keyOf, podTemplateHash, type KubeObject, type ObjectMeta, type PodObject, type PodSpec } from './kube';

/** A pod of a set as the controller sees it. */
export interface SetPod {
  name: string;
  ready: boolean;
  revision: string | undefined;
}

/** What the StatefulSet controller needs from the runtime. */
export interface StatefulSetHost {
  /** The set's pods that exist (admitted and started), by name. */
  podsOf(owner: string): SetPod[];
  createPod(pod: PodObject, owner: string): Promise<unknown>;
  deletePod(key: string): Promise<void>;
  log(line: string): void;
}

interface SetSpec {
  replicas?: number;
  serviceName?: string;
  podManagementPolicy?: 'OrderedReady' | 'Parallel';
  selector?: { matchLabels?: Record<string, string> };
  template: { metadata?: ObjectMeta; spec: PodSpec };
}

/** Why a StatefulSet cannot run, or undefined. */
export function validateStatefulSet(set: KubeObject): string | undefined {
  const spec = set.spec as Partial<SetSpec> | undefined;
  const where = `StatefulSet ${keyOf(set)}`;
  if (!spec?.template?.spec?.containers?.length) return `${where}: spec.template.spec.containers is required`;
  if (spec.replicas !== undefined && (!Number.isInteger(spec.replicas) || spec.replicas < 0)) return `${where}: spec.replicas must be a non-negative integer (got ${String(spec.replicas)})`;
  if (spec.podManagementPolicy !== undefined && !['OrderedReady', 'Parallel'].includes(spec.podManagementPolicy)) return `${where}: spec.podManagementPolicy must be OrderedReady or Parallel`;
  if ((spec as Record<string, unknown>).volumeClaimTemplates !== undefined) return `${where}: spec.volumeClaimTemplates not supported by the local runtime (no PersistentVolumes)`;
  return undefined;
}

/** The StatefulSet controller. */
export class StatefulSetController {
  private readonly sets = new Map<string, KubeObject>();
  private readonly creating = new Map<string, Set<string>>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Sets with a sync queued or running (the resync adds none beside them). */
  private readonly queued = new Map<string, number>();
  private stopped = false;
  /** Periodic resync, as a controller's informer resyncs (a safety net; failed creates re-queue themselves). */
  private resync: NodeJS.Timeout | undefined;
  /** Consecutive creates of a pod (`<set key>/<pod name>`) that ended without the pod, and the timer of its retry. */
  private readonly retries = new Map<string, { failures: number; timer?: NodeJS.Timeout }>();

  constructor(private readonly host: StatefulSetHost, private readonly resyncMs = 30_000) {}

  static owner(set: KubeObject | string): string {
    return `StatefulSet/${typeof set === 'string' ? set : keyOf(set)}`;
  }

  /** Creates or updates a set. */
  async apply(set: KubeObject): Promise<void> {
    const why = validateStatefulSet(set);
    if (why) throw new Error(why);
    this.sets.set(keyOf(set), set);
    if (!this.resync && !this.stopped) {
      this.resync = setInterval(() => {
        for (const k of this.sets.keys()) if (!this.queued.has(k)) void this.sync(k);
      }, this.resyncMs);
      this.resync.unref();
    }
    await this.sync(keyOf(set));
  }

  /** The set was deleted: its pods go, highest ordinal first. */
  async remove(key: string): Promise<void> {
    this.sets.delete(key);
    const ns = key.split('/')[0];
    const pods = this.host.podsOf(StatefulSetController.owner(key)).sort((a, b) => ordinal(b.name) - ordinal(a.name));
    for (const p of pods) await this.host.deletePod(`${ns}/${p.name}`);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resync);
    this.resync = undefined;
    for (const r of this.retries.values()) clearTimeout(r.timer);
    this.retries.clear();
  }

  /** The create of `podName` ended: if no pod of that name exists now, the set is synced again after the pod's back-off. */
  private createEnded(key: string, owner: string, podName: string): void {
    if (this.stopped || !this.sets.has(key)) return;
    const id = `${key}/${podName}`;
    // The pod exists: its events drive the set from here.
    if (this.host.podsOf(owner).some((p) => p.name === podName)) return;
    const r = this.retries.get(id) ?? { failures: 0 };
    r.failures++;
    clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      void this.sync(key);
    }, Math.min(10_000, 100 * 2 ** (r.failures - 1)));
    r.timer.unref();
    this.retries.set(id, r);
  }

  /** Re-evaluates the set owning a pod whose readiness changed or which was deleted. Serialised per set. */
  sync(key: string): Promise<void> {
    this.queued.set(key, (this.queued.get(key) ?? 0) + 1);
    const next = (this.chains.get(key) ?? Promise.resolve())
      .then(() => this.doSync(key))
      .catch((err: Error) => this.host.log(`StatefulSet ${key}: ${err.message}`))
      .finally(() => {
        const n = (this.queued.get(key) ?? 1) - 1;
        if (n > 0) this.queued.set(key, n);
        else this.queued.delete(key);
      });
    this.chains.set(key, next);
    return next;
  }

  private async doSync(key: string): Promise<void> {
    const set = this.sets.get(key);
    if (!set || this.stopped) return;
    const spec = set.spec as SetSpec;
    const ns = set.metadata.namespace ?? 'default';
    const name = set.metadata.name ?? '';
    const owner = StatefulSetController.owner(set);
    const replicas = spec.replicas ?? 1;
    const revision = `${name}-${podTemplateHash(spec.template)}`;
    const creating = this.creating.get(key) ?? new Set<string>();
    this.creating.set(key, creating);
    const pods = new Map(this.host.podsOf(owner).map((p) => [p.name, p]));
    // Scale down and out-of-date pods: highest ordinal first, one at a time (deleted pods come back below).
    const doomed = [...pods.values()].filter((p) => ordinal(p.name) >= replicas || p.revision !== revision).sort((a, b) => ordinal(b.name) - ordinal(a.name));
    for (const p of doomed) {
      this.host.log(`StatefulSet ${key}: deleting ${p.name}${ordinal(p.name) >= replicas ? '' : ' (template changed)'}`);
      await this.host.deletePod(`${ns}/${p.name}`);
      pods.delete(p.name);
    }
    const ordered = (spec.podManagementPolicy ?? 'OrderedReady') === 'OrderedReady';
    for (let i = 0; i < replicas; i++) {
      const podName = `${name}-${i}`;
      const p = pods.get(podName);
      // A pod that made it to Ready ends its back-off.
      if (p?.ready) this.retries.delete(`${key}/${podName}`);
      if (p) {
        if (ordered && !p.ready) return;
        continue;
      }
      // Being created, or waiting out the back-off of a create that ended without it.
      if (creating.has(podName) || this.retries.get(`${key}/${podName}`)?.timer) {
        if (ordered) return;
        continue;
      }
      creating.add(podName);
      const created = this.host.createPod(this.podFor(set, i, revision), owner)
        .catch((err: Error) => this.host.log(`pod ${ns}/${podName}: ${err.message}`))
        .finally(() => {
          creating.delete(podName);
          this.createEnded(key, owner, podName);
        });
      if (ordered) {
        // The next ordinal waits for this one to be Ready (a readiness change calls sync again).
        void created;
        return;
      }
    }
  }

  private podFor(set: KubeObject, i: number, revision: string): PodObject {
    const spec = set.spec as SetSpec;
    const meta = structuredClone(spec.template.metadata ?? {});
    const name = `${set.metadata.name}-${i}`;
    const podSpec = defaultPodSpec(structuredClone(spec.template.spec));
    podSpec.hostname = name;
    if (spec.serviceName) podSpec.subdomain = spec.serviceName;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...meta,
        name,
        namespace: set.metadata.namespace ?? 'default',
        labels: { ...(meta.labels ?? {}), 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(i), 'controller-revision-hash': revision },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: set.metadata.name ?? '', uid: set.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
      },
      spec: podSpec,
    };
  }
}

function ordinal(podName: string): number {
  return Number(podName.slice(podName.lastIndexOf('-') + 1));
}
