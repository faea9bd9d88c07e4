/**
 * The CronJob controller: at each time `spec.schedule` (five-field cron, or `@hourly`-style macros,
 * in `spec.timeZone`, default UTC) creates a Job from `spec.jobTemplate` named
 * `<cronjob>-<minutes since the epoch>`, as the Kubernetes controller names them; honours
 * `suspend`, `concurrencyPolicy` (Allow, Forbid: skip while one runs, Replace: delete the running one)
 * and keeps `successfulJobsHistoryLimit` (3) / `failedJobsHistoryLimit` (1) finished Jobs.
 * Schedules are evaluated with croner.
 */
import { Cron } from 'croner';
import { keyOf, type KubeObject } from './kube';
import type { ObjectStore } from './store';

/** What the CronJob controller needs from the runtime. */
export interface CronJobHost {
  /** Applies (creates) a Job. */
  applyJob(job: KubeObject): Promise<void>;
  deleteJob(key: string): Promise<void>;
  /** Jobs owned by the CronJob, with whether they finished and how. */
  jobsOf(cronKey: string): { key: string; created: string; finished?: 'Complete' | 'Failed' }[];
  log(line: string): void;
}

interface CronSpec {
  schedule?: string;
  timeZone?: string;
  suspend?: boolean;
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  jobTemplate?: { metadata?: KubeObject['metadata']; spec?: Record<string, unknown> };
}

function cronOf(spec: CronSpec): Cron {
  return new Cron(spec.schedule ?? '', { paused: true, timezone: spec.timeZone ?? 'UTC', mode: '5-part' });
}

/** Why a CronJob cannot run, or undefined. */
export function validateCronJob(cj: KubeObject): string | undefined {
  const spec = (cj.spec ?? {}) as CronSpec;
  const where = `CronJob ${keyOf(cj)}`;
  if (!spec.schedule) return `${where}: spec.schedule is required`;
  try {
    cronOf(spec);
  } catch (err) {
    return `${where}: spec.schedule ${JSON.stringify(spec.schedule)} is not a valid cron schedule (${(err as Error).message})`;
  }
  if (spec.concurrencyPolicy !== undefined && !['Allow', 'Forbid', 'Replace'].includes(spec.concurrencyPolicy)) return `${where}: spec.concurrencyPolicy must be Allow, Forbid or Replace`;
  if (!spec.jobTemplate?.spec) return `${where}: spec.jobTemplate.spec is required`;
  return undefined;
}

/** The next scheduled time strictly after `after`, or undefined when the schedule has none. */
export function nextSchedule(cj: KubeObject, after: Date): Date | undefined {
  return cronOf((cj.spec ?? {}) as CronSpec).nextRun(after) ?? undefined;
}

/** The Job a CronJob creates for the time `at`. */
export function jobFor(cj: KubeObject, at: Date, name = `${cj.metadata.name}-${Math.floor(at.getTime() / 60_000)}`): KubeObject {
  const spec = cj.spec as CronSpec;
  const meta = structuredClone(spec.jobTemplate?.metadata ?? {});
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      ...meta,
      name,
      namespace: cj.metadata.namespace ?? 'default',
      annotations: { ...(meta.annotations ?? {}), 'batch.kubernetes.io/cronjob-scheduled-timestamp': at.toISOString() },
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: cj.metadata.name ?? '', uid: cj.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: structuredClone(spec.jobTemplate?.spec ?? {}),
  };
}

/** The CronJob controller. */
export class CronJobController {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly cronJobs = new Map<string, KubeObject>();
  private stopped = false;

  constructor(private readonly host: CronJobHost, private readonly now: () => Date = () => new Date()) {}

  async apply(cj: KubeObject): Promise<void> {
    const why = validateCronJob(cj);
    if (why) throw new Error(why);
    const key = keyOf(cj);
    this.cronJobs.set(key, cj);
    this.arm(key);
  }

  remove(key: string): void {
    this.cronJobs.delete(key);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** Creates the CronJob's Job now, as `kubectl create job --from=cronjob/<name>` does (concurrency policy and history limits applied). */
  async trigger(key: string, scheduled?: Date): Promise<string | undefined> {
    const at = scheduled ?? this.now();
    const cj = this.cronJobs.get(key);
    if (!cj) throw new Error(`CronJob ${key} not found`);
    const spec = cj.spec as CronSpec;
    const running = this.host.jobsOf(key).filter((j) => !j.finished);
    const policy = spec.concurrencyPolicy ?? 'Allow';
    if (running.length && policy === 'Forbid') {
      this.host.log(`CronJob ${key}: skipping ${at.toISOString()}: ${running.map((j) => j.key).join(', ')} still running (concurrencyPolicy Forbid)`);
      return undefined;
    }
    if (running.length && policy === 'Replace') for (const j of running) await this.host.deleteJob(j.key);
    const job = scheduled ? jobFor(cj, at) : jobFor(cj, at, `${cj.metadata.name}-manual-${at.getTime().toString(36)}`);
    await this.host.applyJob(job);
    this.host.log(`CronJob ${key}: created Job ${keyOf(job)}`);
    await this.prune(key);
    return keyOf(job);
  }

  /** Deletes finished Jobs beyond the history limits, oldest first. */
  async prune(key: string): Promise<void> {
    const cj = this.cronJobs.get(key);
    if (!cj) return;
    const spec = cj.spec as CronSpec;
    const jobs = this.host.jobsOf(key).sort((a, b) => a.created.localeCompare(b.created));
    for (const [kind, limit] of [['Complete', spec.successfulJobsHistoryLimit ?? 3], ['Failed', spec.failedJobsHistoryLimit ?? 1]] as const) {
      const done = jobs.filter((j) => j.finished === kind);
      for (const j of done.slice(0, Math.max(0, done.length - limit))) await this.host.deleteJob(j.key);
    }
  }

  private arm(key: string): void {
    clearTimeout(this.timers.get(key));
    const cj = this.cronJobs.get(key);
    if (!cj || this.stopped) return;
    const next = nextSchedule(cj, this.now());
    if (!next) return;
    // Timers longer than ~24 days overflow; re-arm in steps.
    const delay = Math.min(next.getTime() - this.now().getTime(), 2 ** 31 - 1);
    const t = setTimeout(() => {
      if (this.cronJobs.get(key) !== cj || this.stopped) return;
      if (Date.now() + 50 < next.getTime()) return this.arm(key);
      const run = (cj.spec as CronSpec).suspend ? Promise.resolve(undefined) : this.trigger(key, next);
      void run.catch((err: Error) => this.host.log(`CronJob ${key}: ${err.message}`)).finally(() => this.arm(key));
    }, Math.max(0, delay));
    t.unref();
    this.timers.set(key, t);
  }
}

/** The Jobs of a CronJob (`namespace/name`) in the store, with when each was scheduled and whether it finished and how. */
export function jobsOfCronJob(store: ObjectStore, cronKey: string): { key: string; created: string; finished?: 'Complete' | 'Failed' }[] {
  const [ns, name] = cronKey.split('/');
  return store.list('Job', ns)
    .filter((j) => j.metadata.ownerReferences?.some((r) => r.kind === 'CronJob' && r.name === name))
    .map((j) => {
      const conds = (j.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? [];
      const finished = conds.some((c) => c.type === 'Complete') ? ('Complete' as const) : conds.some((c) => c.type === 'Failed') ? ('Failed' as const) : undefined;
      return { key: keyOf(j), created: j.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'] ?? '', finished };
    });
}
