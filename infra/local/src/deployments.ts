/**
 * The Deployment and ReplicaSet controllers. A Deployment owns one ReplicaSet per pod template
 * (`<deployment>-<pod-template-hash>`); the Deployment controller only sets each ReplicaSet's
 * `spec.replicas`, the ReplicaSet controller creates and deletes pods to match it.
 *
 * `strategy.type: RollingUpdate` (the default) scales the new ReplicaSet up by at most
 * `maxSurge` pods over `replicas` and the old ones down only while at least
 * `replicas - maxUnavailable` pods stay Ready (readiness gating; unready old pods go first);
 * `Recreate` deletes every old pod, waits until they are gone, then creates the new ones.
 * Status (`replicas`, `updatedReplicas`, `readyReplicas`, `availableReplicas`,
 * `unavailableReplicas`, `observedGeneration`, conditions `Available` / `Progressing`) is written
 * back as `kubectl rollout status` reads it.
 */
import { keyOf, podFromTemplate, podTemplateHash, uidFromName, type KubeObject, type ObjectMeta, type PodObject, type PodSpec } from './kube';
import type { EventRecorder } from './events';
import type { ObjectStore } from './store';

/** A pod of a ReplicaSet as the controllers see it (terminating pods are not listed). */
export interface OwnedPod {
  /** `namespace/name` (or a placeholder while the pod is being admitted). */
  key: string;
  ready: boolean;
  /** Still being admitted (no name yet). */
  pending: boolean;
  /** When it last became Ready (ms since the epoch). */
  readySince?: number;
}

/** What the controllers need: the store (Deployments, ReplicaSets), the pods by owner, pod create/delete. */
export interface DeploymentHost {
  store: ObjectStore;
  /** The pods (not terminating) owned by `owner` (`ReplicaSet/<ns>/<name>`), pending admissions included. */
  podsOf(owner: string): OwnedPod[];
  createPod(pod: PodObject, owner: string): Promise<unknown>;
  /** Graceful delete: endpoints first, then termination. */
  deletePod(key: string): Promise<void>;
  events?: EventRecorder;
  log(line: string): void;
}

interface DeploymentSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector?: { matchLabels?: Record<string, string> };
  strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  template: { metadata?: ObjectMeta; spec: PodSpec };
}

const INT_OR_PERCENT = /^(0|[1-9][0-9]*)%$/;

function validIntOrPercent(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'string' && INT_OR_PERCENT.test(v));
}

/** `maxSurge` / `maxUnavailable` as a number of pods (percentages of `replicas`, rounded up for surge, down for unavailable). */
export function scaledValue(v: number | string | undefined, replicas: number, roundUp: boolean, dflt = '25%'): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const pct = Number(x.slice(0, -1));
  return roundUp ? Math.ceil((pct * replicas) / 100) : Math.floor((pct * replicas) / 100);
}

/** Why a Deployment cannot run, or undefined (Kubernetes' own validation messages where it has them). */
export function validateDeployment(dep: KubeObject): string | undefined {
  const spec = dep.spec as Partial<DeploymentSpec> | undefined;
  const where = `Deployment ${keyOf(dep)}`;
  if (!spec?.template?.spec?.containers?.length) return `${where}: spec.template.spec.containers is required`;
  if (spec.replicas !== undefined && (!Number.isInteger(spec.replicas) || spec.replicas < 0)) return `${where}: spec.replicas must be a non-negative integer (got ${String(spec.replicas)})`;
  if (spec.minReadySeconds !== undefined && (!Number.isInteger(spec.minReadySeconds) || spec.minReadySeconds < 0)) return `${where}: spec.minReadySeconds must be a non-negative integer (got ${String(spec.minReadySeconds)})`;
  const type = spec.strategy?.type ?? 'RollingUpdate';
  if (type !== 'RollingUpdate' && type !== 'Recreate') return `${where}: spec.strategy.type: Unsupported value "${String(type)}": supported values: "Recreate", "RollingUpdate"`;
  const ru = spec.strategy?.rollingUpdate;
  if (ru && type === 'Recreate') return `${where}: spec.strategy.rollingUpdate: may not be specified when strategy \`type\` is 'Recreate'`;
  for (const f of ['maxSurge', 'maxUnavailable'] as const) {
    if (!validIntOrPercent(ru?.[f])) return `${where}: spec.strategy.rollingUpdate.${f}: must be a non-negative integer or a percentage such as "25%" (got ${JSON.stringify(ru?.[f])})`;
  }
  if (type === 'RollingUpdate') {
    const replicas = Math.max(spec.replicas ?? 1, 1);
    if (scaledValue(ru?.maxSurge, replicas, true) === 0 && scaledValue(ru?.maxUnavailable, replicas, false) === 0) {
      return `${where}: spec.strategy.rollingUpdate.maxUnavailable: may not be 0 when maxSurge is 0`;
    }
  }
  const sel = spec.selector?.matchLabels;
  const labels = spec.template.metadata?.labels ?? {};
  if (sel && Object.entries(sel).some(([k, v]) => labels[k] !== v)) return `${where}: spec.template.metadata.labels: does not match the selector ${JSON.stringify(sel)}`;
  return undefined;
}

/** The Deployment controller and, below it, the ReplicaSet controller. */
export class DeploymentController {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly chains = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly host: DeploymentHost) {}

  /** The owner string of a ReplicaSet's pods. */
  static owner(rsKey: string): string {
    return `ReplicaSet/${rsKey}`;
  }

  /** The Deployment key (`namespace/name`) owning pods of `owner`, if it is one of its ReplicaSets. */
  deploymentOf(owner: string | undefined): string | undefined {
    if (!owner?.startsWith('ReplicaSet/')) return undefined;
    const rs = this.host.store.get('ReplicaSet', owner.slice('ReplicaSet/'.length));
    const ref = rs?.metadata.ownerReferences?.find((r) => r.kind === 'Deployment');
    return ref ? `${rs!.metadata.namespace}/${ref.name}` : undefined;
  }

  /** The Deployment was deleted: its ReplicaSets are scaled to zero and removed with their pods. */
  remove(key: string): Promise<void> {
    return this.sync(key);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
  }

  /**
   * A pod counts as available once Ready for `minReadySeconds`; when some are Ready but not yet
   * available, the Deployment is re-evaluated the moment the first of them becomes so.
   */
  private availability(key: string, dep: KubeObject): (p: OwnedPod) => boolean {
    const minMs = ((dep.spec as DeploymentSpec).minReadySeconds ?? 0) * 1000;
    const now = Date.now();
    let next = Infinity;
    const available = (p: OwnedPod) => {
      if (!p.ready) return false;
      if (minMs === 0 || p.readySince === undefined) return true;
      const at = p.readySince + minMs;
      if (at > now) next = Math.min(next, at);
      return at <= now;
    };
    queueMicrotask(() => {
      if (next === Infinity || this.stopped || this.timers.has(key)) return;
      const t = setTimeout(() => {
        this.timers.delete(key);
        void this.sync(key);
      }, next - Date.now() + 10);
      t.unref();
      this.timers.set(key, t);
    });
    return available;
  }

  /** Re-evaluates a Deployment (on apply, a pod's readiness change, a pod's deletion). Serialised per Deployment. */
  sync(key: string): Promise<void> {
    const next = (this.chains.get(key) ?? Promise.resolve()).then(() => this.doSync(key)).catch((err: Error) => this.host.log(`Deployment ${key}: ${err.message}`));
    this.chains.set(key, next);
    return next;
  }

  private setsOf(key: string): KubeObject[] {
    const [ns, name] = key.split('/');
    return this.host.store.list('ReplicaSet', ns).filter((rs) => rs.metadata.namespace === ns && rs.metadata.ownerReferences?.some((r) => r.kind === 'Deployment' && r.name === name));
  }

  private podsOfSet(rs: KubeObject): OwnedPod[] {
    return this.host.podsOf(DeploymentController.owner(keyOf(rs)));
  }

  private replicasOf(rs: KubeObject): number {
    return (rs.spec as { replicas: number }).replicas;
  }

  private async doSync(key: string): Promise<void> {
    if (this.stopped) return;
    const dep = this.host.store.get('Deployment', key);
    if (!dep) {
      for (const rs of this.setsOf(key)) await this.scaleSet(rs, 0, true);
      for (const rs of this.setsOf(key)) this.host.store.delete('ReplicaSet', keyOf(rs));
      return;
    }
    const spec = dep.spec as DeploymentSpec;
    const replicas = spec.replicas ?? 1;
    const available = this.availability(key, dep);
    const newRs = this.ensureNewSet(dep);
    const old = this.setsOf(key).filter((rs) => rs !== newRs);
    if ((spec.strategy?.type ?? 'RollingUpdate') === 'Recreate') {
      if (old.some((rs) => this.replicasOf(rs) > 0 || this.podsOfSet(rs).length > 0)) {
        // Every old pod is gone before a new one starts.
        await Promise.all(old.map((rs) => this.scaleSet(rs, 0, true)));
      }
      await this.scaleSet(newRs, replicas, true);
    } else {
      const ru = spec.strategy?.rollingUpdate;
      const surge = scaledValue(ru?.maxSurge, replicas, true);
      const unavailable = scaledValue(ru?.maxUnavailable, replicas, false);
      const active = old.filter((rs) => this.replicasOf(rs) > 0 || this.podsOfSet(rs).length > 0);
      const have = this.replicasOf(newRs);
      if (active.length === 0) {
        // Not rolling: a scale-down returns once the surplus pods are gone.
        await this.scaleSet(newRs, replicas, true);
      } else {
        // Scale up the new ReplicaSet within replicas + maxSurge (counted over every set's replicas).
        const total = [newRs, ...active].reduce((n, rs) => n + this.replicasOf(rs), 0);
        const up = Math.min(replicas, have + Math.max(0, replicas + surge - total));
        if (up > have || have > replicas) await this.scaleSet(newRs, Math.min(up > have ? up : have, replicas), false);
      }
      // Scale down old ReplicaSets while replicas - maxUnavailable pods stay Ready.
      const minAvailable = replicas - unavailable;
      const allPods = [newRs, ...active].flatMap((rs) => this.podsOfSet(rs));
      const ready = allPods.filter(available).length;
      const newUnavailable = Math.max(0, this.replicasOf(newRs) - this.podsOfSet(newRs).filter(available).length);
      let budget = [newRs, ...active].reduce((n, rs) => n + this.replicasOf(rs), 0) - minAvailable - newUnavailable;
      // Unready old pods first: removing them costs no availability.
      for (const rs of active) {
        if (budget <= 0) break;
        const unready = this.podsOfSet(rs).filter((p) => !available(p)).length;
        const n = Math.min(unready, budget, this.replicasOf(rs));
        if (n > 0) {
          budget -= n;
          await this.scaleSet(rs, this.replicasOf(rs) - n, false);
        }
      }
      let removable = Math.min(budget, ready - minAvailable);
      for (const rs of active) {
        if (removable <= 0) break;
        const n = Math.min(removable, this.replicasOf(rs));
        if (n > 0) {
          removable -= n;
          await this.scaleSet(rs, this.replicasOf(rs) - n, false);
        }
      }
    }
    // Old ReplicaSets at zero with no pods left are kept (revision history), as Kubernetes keeps them.
    this.writeStatus(dep, newRs, old, available);
  }

  /** The ReplicaSet of the Deployment's current template, created at 0 replicas when new. */
  private ensureNewSet(dep: KubeObject): KubeObject {
    const spec = dep.spec as DeploymentSpec;
    const hash = podTemplateHash(spec.template);
    const ns = dep.metadata.namespace ?? 'default';
    const name = `${dep.metadata.name}-${hash}`;
    const key = `${ns}/${name}`;
    let rs = this.host.store.get('ReplicaSet', key);
    if (!rs) {
      rs = this.host.store.put({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name, namespace: ns, uid: uidFromName(key),
          labels: { ...(spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash },
          annotations: { 'deployment.kubernetes.io/revision': String(this.setsOf(keyOf(dep)).length + 1) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name ?? '', uid: dep.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
        },
        spec: { replicas: 0, selector: { matchLabels: { ...(spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash } }, template: structuredClone(spec.template) },
      });
      this.host.log(`Deployment ${keyOf(dep)}: ReplicaSet ${name} created`);
    }
    return rs;
  }

  /**
   * The ReplicaSet controller: sets `spec.replicas` and makes the pods match — creates from the
   * template, deletes pending, then unready, then ready pods. With `wait`, resolves once the
   * deleted pods are gone; otherwise deletions proceed in the background (terminating pods are
   * no longer the set's).
   */
  private async scaleSet(rs: KubeObject, replicas: number, wait: boolean): Promise<void> {
    const prev = this.replicasOf(rs);
    if (prev !== replicas) this.host.store.patch('ReplicaSet', keyOf(rs), (o) => void ((o.spec as { replicas: number }).replicas = replicas));
    if (prev !== replicas) {
      this.host.log(`ReplicaSet ${keyOf(rs)}: scaled ${prev} → ${replicas}`);
      const ref = rs.metadata.ownerReferences?.find((r) => r.kind === 'Deployment');
      const dep = ref ? this.host.store.get('Deployment', `${rs.metadata.namespace}/${ref.name}`) : undefined;
      if (dep) this.host.events?.record(dep, 'Normal', 'ScalingReplicaSet', `Scaled ${replicas > prev ? 'up' : 'down'} replica set ${rs.metadata.name} from ${prev} to ${replicas}`);
    }
    const pods = this.podsOfSet(rs);
    const owner = DeploymentController.owner(keyOf(rs));
    const deletions: Promise<void>[] = [];
    if (pods.length > replicas) {
      const order = [...pods].sort((a, b) => rank(a) - rank(b));
      for (const p of order.slice(0, pods.length - replicas)) deletions.push(this.host.deletePod(p.key).catch((err: Error) => this.host.log(`pod ${p.key}: ${err.message}`)));
    }
    const template = (rs.spec as { template: { metadata?: ObjectMeta; spec: PodSpec } }).template;
    for (let i = pods.length; i < replicas; i++) {
      void this.host.createPod(podFromTemplate(template, rs.metadata.namespace ?? 'default', rs.metadata.name ?? '', rs.metadata.uid ?? ''), owner).catch((err: Error) => this.host.log(`pod of ${owner}: ${err.message}`));
    }
    const ready = pods.filter((p) => p.ready).length;
    this.host.store.status('ReplicaSet', keyOf(rs), { replicas: Math.max(pods.length, replicas), readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata.generation });
    if (wait) await Promise.all(deletions);
  }

  private writeStatus(dep: KubeObject, newRs: KubeObject, old: KubeObject[], available: (p: OwnedPod) => boolean): void {
    const spec = dep.spec as DeploymentSpec;
    const replicas = spec.replicas ?? 1;
    const all = [newRs, ...old].flatMap((rs) => this.podsOfSet(rs));
    const updated = this.podsOfSet(newRs);
    const ready = all.filter((p) => p.ready).length;
    const avail = all.filter(available).length;
    const unavailable = scaledValue(spec.strategy?.rollingUpdate?.maxUnavailable, replicas, false, (spec.strategy?.type ?? 'RollingUpdate') === 'Recreate' ? String(replicas) : '25%');
    const complete = updated.length === replicas && all.length === replicas && updated.every(available);
    const now = new Date().toISOString();
    this.host.store.status('Deployment', keyOf(dep), {
      observedGeneration: dep.metadata.generation,
      replicas: all.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: avail,
      unavailableReplicas: Math.max(0, replicas - avail),
      conditions: [
        { type: 'Available', status: avail >= replicas - unavailable ? 'True' : 'False', reason: avail >= replicas - unavailable ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', lastUpdateTime: now },
        { type: 'Progressing', status: 'True', reason: complete ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: `ReplicaSet "${newRs.metadata.name}" ${complete ? 'has successfully progressed' : 'is progressing'}.`, lastUpdateTime: now },
      ],
    });
  }
}

/** Deletion order: pending pods go first, then unready, then ready. */
function rank(p: OwnedPod): number {
  return p.pending ? 0 : p.ready ? 2 : 1;
}

/** True when a Deployment's rollout is complete (`kubectl rollout status`): every replica updated, available, none old left. */
export function rolloutComplete(dep: KubeObject): boolean {
  const spec = dep.spec as DeploymentSpec;
  const st = dep.status as { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number } | undefined;
  const replicas = spec.replicas ?? 1;
  return !!st && (st.observedGeneration ?? 0) >= Number(dep.metadata.generation ?? 0) && st.updatedReplicas === replicas && st.replicas === replicas && (st.availableReplicas ?? 0) >= replicas;
}

/**
 * Waits until a Deployment's rollout is complete, as `kubectl rollout status` does: every replica
 * of the current template created and Ready, no pod of an older one left. Throws with the status after `timeoutMs`.
 */
export async function waitRollout(store: ObjectStore, key: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dep = store.get('Deployment', key);
    if (!dep) throw new Error(`Deployment ${key} not found`);
    if (rolloutComplete(dep)) return;
    if (Date.now() > deadline) throw new Error(`Deployment ${key}: rollout not complete after ${timeoutMs} ms: ${JSON.stringify(dep.status ?? {})}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
