import { describe, expect, it } from 'vitest';
import { jobFor, nextSchedule, validateCronJob } from './cronjobs';
import type { KubeObject } from './kube';

const cj = (spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: 'ops', uid: 'u1' }, spec: { jobTemplate: { spec: { template: {} } }, ...spec } });

describe('CronJob schedules', () => {
  it('computes the next time in UTC or the given timeZone, and macros', () => {
    const after = new Date('2026-03-01T10:07:00Z');
    expect(nextSchedule(cj({ schedule: '*/15 * * * *' }), after)?.toISOString()).toBe('2026-03-01T10:15:00.000Z');
    expect(nextSchedule(cj({ schedule: '0 3 * * *', timeZone: 'Europe/Berlin' }), after)?.toISOString()).toBe('2026-03-02T02:00:00.000Z');
    expect(nextSchedule(cj({ schedule: '@hourly' }), after)?.toISOString()).toBe('2026-03-01T11:00:00.000Z');
  });

  it('names the Job by the scheduled minute and records the scheduled time', () => {
    const at = new Date('2026-03-01T10:15:00Z');
    const job = jobFor(cj({ schedule: '*/15 * * * *' }), at);
    expect(job.metadata.name).toBe(`nightly-${at.getTime() / 60_000}`);
    expect(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(at.toISOString());
    expect(job.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', name: 'nightly', uid: 'u1' });
  });

  it('refuses bad schedules and policies by field', () => {
    expect(validateCronJob(cj({ schedule: '* * *' }))).toMatch(/CronJob ops\/nightly: spec\.schedule "\* \* \*" is not a valid cron schedule/);
    expect(validateCronJob(cj({ schedule: '0 * * * * *' }))).toMatch(/not a valid cron schedule/);
    expect(validateCronJob(cj({ schedule: '0 * * * *', concurrencyPolicy: 'Sometimes' }))).toMatch(/spec\.concurrencyPolicy must be Allow, Forbid or Replace/);
    expect(validateCronJob(cj({ schedule: '0 * * * *' }))).toBeUndefined();
  });
});
