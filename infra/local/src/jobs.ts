/**
 * The Job controller: creates a Job's pods from its template (restartPolicy Never or OnFailure),
 * up to `parallelism` at a time until `completions` pods have Succeeded, counts Failed pods
 * against `backoffLimit` (with the runtime's restart backoff between retries), and writes the
 * Job's status with its `Complete` or `Failed` condition. Pods are created and torn down through
 * {@link JobHost}; the controller only reads pod outcomes and writes Job status.
 */
import { defaultPodSpec, keyOf, type KubeObject, type ObjectMeta, type PodObject, type PodSpec } from './kube';
import type { ObjectStore } from './store';

/** What the Job controller needs from the runtime. */
export interface JobHost {
  /** Creates a pod owned by `owner` (`Job/<ns>/<name>`); rejects when it cannot be admitted or started. */
  createPod(pod: PodObject, owner: string): Promise<unknown>;
  /** Deletes (terminates) a pod by `namespace/name`. */
  deletePod(key: string): Promise<void>;
  /** Stores the Job with its new status. */
  writeStatus(job: KubeObject): Promise<void>;
  /** Delay before re-creating a failed pod, by number of failures so far. */
  retryDelayMs(failures: number): number;
  log(line: string): void;
}

/** A Job's status as the controller writes it (batch/v1 JobStatus). */
export interface JobStatus {
  active: number;
  succeeded: number;
  failed: number;
  startTime: string;
  completionTime?: string;
  conditions?: { type: 'Complete' | 'Failed' | 'SuccessCriteriaMet' | 'FailureTarget'; status: 'True'; reason?: string; message?: string; lastTransitionTime: string }[];
}

interface JobSpec {
  completions?: number;
  parallelism?: number;
  backoffLimit?: number;
  template: { metadata?: ObjectMeta; spec: PodSpec };
}

interface JobState {
  job: KubeObject;
  active: Set<string>;
  /** Pods being created (not yet named). */
  creating: number;
  succeeded: number;
  failed: number;
  startTime: string;
  finished: boolean;
  timer?: NodeJS.Timeout;
}

/** Why a Job cannot run, or undefined when it can (checked before any pod is created). */
export function validateJob(job: KubeObject): string | undefined {
  const spec = job.spec as Partial<JobSpec> | undefined;
  const where = `Job ${keyOf(job)}`;
  if (!spec?.template?.spec?.containers?.length) return `${where}: spec.template.spec.containers is required`;
  const rp = spec.template.spec.restartPolicy;
  if (rp !== 'Never' && rp !== 'OnFailure') return `${where}: spec.template.spec.restartPolicy must be Never or OnFailure (got ${rp ?? 'unset'})`;
  for (const f of ['completions', 'parallelism', 'backoffLimit'] as const) {
    const v = spec[f];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) return `${where}: spec.${f} must be a non-negative integer (got ${String(v)})`;
  }
  const unsupported = ['completionMode', 'podFailurePolicy', 'successPolicy', 'backoffLimitPerIndex', 'managedBy'].filter((f) => (spec as Record<string, unknown>)[f] !== undefined);
  if (unsupported.length) return `${where}: spec.${unsupported.join(', spec.')} not supported by the local runtime`;
  return undefined;
}

/** The Job controller. */
export class JobController {
  private readonly jobs = new Map<string, JobState>();
  private stopped = false;

  constructor(private readonly host: JobHost) {}

  /** Owner string of a Job's pods. */
  static owner(job: KubeObject): string {
    return `Job/${keyOf(job)}`;
  }

  /** Starts (or re-reads) a Job. Throws with the field when the Job cannot run. A Job's template is immutable: a re-apply only updates parallelism. */
  async reconcile(job: KubeObject): Promise<void> {
    const why = validateJob(job);
    if (why) throw new Error(why);
    const key = keyOf(job);
    let st = this.jobs.get(key);
    if (!st) {
      st = { job, active: new Set(), creating: 0, succeeded: 0, failed: 0, startTime: new Date().toISOString(), finished: false };
      this.jobs.set(key, st);
    } else {
      (st.job.spec as JobSpec).parallelism = (job.spec as JobSpec).parallelism;
    }
    await this.sync(st);
  }

  /** A pod of `owner` reached Succeeded or Failed (and was torn down). */
  async podFinished(owner: string, podKey: string, phase: 'Succeeded' | 'Failed'): Promise<void> {
    const st = this.jobs.get(owner.slice('Job/'.length));
    if (!st || !st.active.delete(podKey)) return;
    if (phase === 'Succeeded') st.succeeded++;
    else st.failed++;
    if (phase === 'Failed' && !st.finished && this.failureLimitReached(st) === false) {
      // Retry after the backoff, as the Job controller delays pod re-creation after failures.
      const delay = this.host.retryDelayMs(st.failed);
      clearTimeout(st.timer);
      st.timer = setTimeout(() => void this.sync(st).catch((err: Error) => this.host.log(err.message)), delay);
      st.timer.unref();
      await this.writeStatus(st);
      return;
    }
    await this.sync(st);
  }

  /** The Job was deleted: its active pods are terminated. */
  async remove(key: string): Promise<void> {
    const st = this.jobs.get(key);
    if (!st) return;
    this.jobs.delete(key);
    st.finished = true;
    clearTimeout(st.timer);
    await Promise.all([...st.active].map((k) => this.host.deletePod(k)));
  }

  /** Stops creating pods (runtime shutdown). */
  stop(): void {
    this.stopped = true;
    for (const st of this.jobs.values()) clearTimeout(st.timer);
  }

  private failureLimitReached(st: JobState): boolean {
    return st.failed > ((st.job.spec as JobSpec).backoffLimit ?? 6);
  }

  private async sync(st: JobState): Promise<void> {
    if (this.stopped || st.finished) return;
    const spec = st.job.spec as JobSpec;
    const completions = spec.completions ?? 1;
    const parallelism = spec.parallelism ?? 1;
    const now = new Date().toISOString();
    if (this.failureLimitReached(st)) {
      st.finished = true;
      const message = `Job has reached the specified backoff limit (${spec.backoffLimit ?? 6})`;
      this.setFinal(st, 'Failed', 'BackoffLimitExceeded', message, now);
      this.host.log(`Job ${keyOf(st.job)} failed: ${message}`);
      await Promise.all([...st.active].map((k) => this.host.deletePod(k)));
      await this.writeStatus(st);
      return;
    }
    if (st.succeeded >= completions) {
      st.finished = true;
      this.setFinal(st, 'Complete', 'CompletionsReached', 'Reached expected number of succeeded pods', now);
      this.host.log(`Job ${keyOf(st.job)} complete: ${st.succeeded}/${completions} succeeded`);
      await this.writeStatus(st);
      return;
    }
    const want = Math.min(parallelism, completions - st.succeeded) - st.active.size - st.creating;
    for (let i = 0; i < want; i++) void this.createOne(st);
    await this.writeStatus(st);
  }

  private async createOne(st: JobState): Promise<void> {
    const job = st.job;
    const spec = job.spec as JobSpec;
    const meta = structuredClone(spec.template.metadata ?? {});
    const name = job.metadata.name ?? '';
    const uid = job.metadata.uid ?? '';
    const labels = { ...(meta.labels ?? {}), 'batch.kubernetes.io/job-name': name, 'job-name': name, 'batch.kubernetes.io/controller-uid': uid, 'controller-uid': uid };
    const pod: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...meta,
        generateName: `${name}-`,
        namespace: job.metadata.namespace ?? 'default',
        labels,
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: defaultPodSpec(structuredClone(spec.template.spec)),
    };
    st.creating++;
    try {
      const created = (await this.host.createPod(pod, JobController.owner(job))) as { key?: string } | undefined;
      st.creating--;
      if (created?.key) st.active.add(created.key);
    } catch (err) {
      st.creating--;
      st.failed++;
      this.host.log(`pod of Job ${keyOf(job)}: ${(err as Error).message}`);
      await this.podFailedToStart(st);
    }
  }

  private async podFailedToStart(st: JobState): Promise<void> {
    if (this.failureLimitReached(st)) return this.sync(st);
    clearTimeout(st.timer);
    st.timer = setTimeout(() => void this.sync(st).catch((err: Error) => this.host.log(err.message)), this.host.retryDelayMs(st.failed));
    st.timer.unref();
  }

  private setFinal(st: JobState, type: 'Complete' | 'Failed', reason: string, message: string, now: string): void {
    const status = this.status(st);
    const criteria = type === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget';
    status.conditions = [
      { type: criteria, status: 'True', reason, message, lastTransitionTime: now },
      { type, status: 'True', reason, message, lastTransitionTime: now },
    ];
    if (type === 'Complete') status.completionTime = now;
    st.job.status = status as unknown as Record<string, unknown>;
  }

  private status(st: JobState): JobStatus {
    const prev = (st.job.status ?? {}) as Partial<JobStatus>;
    return { ...prev, active: st.active.size + st.creating, succeeded: st.succeeded, failed: st.failed, startTime: st.startTime };
  }

  private async writeStatus(st: JobState): Promise<void> {
    if (!st.finished) st.job.status = this.status(st) as unknown as Record<string, unknown>;
    else st.job.status = { ...((st.job.status ?? {}) as Record<string, unknown>), active: st.active.size, succeeded: st.succeeded, failed: st.failed };
    await this.host.writeStatus(st.job);
  }
}

/** Writes a Job's status subresource, unless the stored Job is another one of the same name (deleted and re-created since). */
export function writeJobStatus(store: ObjectStore, job: KubeObject): void {
  const stored = store.get('Job', keyOf(job));
  if (stored?.metadata.uid === job.metadata.uid) store.status('Job', keyOf(job), structuredClone(job.status));
}

/** Whether a Job has its Complete or Failed condition. */
export function jobFinished(job: KubeObject): boolean {
  return ((job.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Complete' || c.type === 'Failed');
}
