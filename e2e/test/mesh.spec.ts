/**
 * End-to-end scenarios, written once and run by the driver named in E2E_DRIVER (`local` by
 * default: the local runtime on this machine; `kind`: a kind cluster). One mesh per run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverFromEnv } from '../src/drivers/index';
import { burst, closeLoad, share, steady } from '../src/load';
import { todolistCanary } from '../src/config';

const driver = driverFromEnv((line) => process.env.E2E_VERBOSE && console.log(line));
const skipReason = await driver.unavailable();
if (skipReason) console.warn(`e2e (${driver.name} driver) skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(`mesh on the ${driver.name} driver`, () => {
  beforeAll(async () => {
    await driver.up();
  });
  afterAll(async () => {
    await closeLoad();
    await driver.down();
  });

  describe('canary through the ingress gateway', () => {
    const isV2 = (s: { headers: Record<string, unknown> }) => s.headers['x-version'] === 'v2';

    it('splits todolist 90/10: v2 is 10 ± 3 % of 1,000 requests', async () => {
      const samples = await burst(1000, 20, `${driver.gatewayHttp()}/`);
      const failed = samples.filter((s) => s.status !== 200);
      expect(failed.length, failed.slice(0, 3).map((s) => `${s.status} ${s.error ?? s.body.slice(0, 80)}`).join('; ')).toBe(0);
      const v2 = share(samples, isV2) * 100;
      expect(v2).toBeGreaterThanOrEqual(7);
      expect(v2).toBeLessThanOrEqual(13);
      expect(samples.find(isV2)?.body).toMatch(/v2/);
    });

    it('moves to 50/50 and then 0/100 under steady load within 2 s, with no failed request', async () => {
      const url = `${driver.gatewayHttp()}/`;
      const load = steady(url, 100, 9000);
      await new Promise((r) => setTimeout(r, 1000));
      const t50 = Date.now();
      await driver.apply(todolistCanary(50, 50));
      await new Promise((r) => setTimeout(r, 3500));
      const t100 = Date.now();
      await driver.apply(todolistCanary(0, 100));
      const samples = await load;
      const failed = samples.filter((s) => s.status !== 200);
      expect(failed.length, failed.slice(0, 3).map((s) => `${s.status} ${s.error ?? ''}`).join('; ')).toBe(0);
      const window50 = samples.filter((s) => s.at >= t50 + 2000 && s.at < t100);
      expect(share(window50, isV2)).toBeGreaterThan(0.3);
      expect(share(window50, isV2)).toBeLessThan(0.7);
      const after100 = samples.filter((s) => s.at >= t100 + 2000);
      expect(after100.length).toBeGreaterThan(100);
      expect(share(after100, isV2)).toBe(1);
      await driver.apply(todolistCanary(90, 10));
    });
  });
});
