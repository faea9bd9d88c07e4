import { defineConfig } from 'vitest/config';
import { projectConfig } from '../vitest.shared';

// One mesh per run, scenarios in order: no file parallelism, long timeouts.
const base = projectConfig(import.meta.dirname, { testTimeout: 180_000, fileParallelism: false });
export default defineConfig({ ...base, test: { ...base.test, hookTimeout: 300_000 } });
