import { defineConfig } from 'vitest/config';
import { projectConfig } from '../vitest.shared';
import { hookTimeoutFor } from './src/timeouts';

// One mesh per run, scenarios in order: no file parallelism, long timeouts. On kind the setup
// creates a cluster, builds and loads seven images and waits for the rollout: 40 minutes, not 5.
const base = projectConfig(import.meta.dirname, { testTimeout: 180_000, fileParallelism: false });
const hookTimeout = hookTimeoutFor(process.env.E2E_DRIVER);
export default defineConfig({ ...base, test: { ...base.test, hookTimeout } });
