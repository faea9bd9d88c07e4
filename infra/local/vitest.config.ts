import { defineConfig } from 'vitest/config';
import { projectConfig } from '../../vitest.shared';

// Runtime tests create real namespaces, veths and iptables rules; two files at a time is plenty on 2 cores.
export default defineConfig(projectConfig(import.meta.dirname, { testTimeout: 60_000 }));
