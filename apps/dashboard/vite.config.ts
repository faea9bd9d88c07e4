// The dashboard's front end, bundled at build time into dist/apps/dashboard (served by `tsmesh dashboard`).
import { defineConfig } from 'vite';
import { resolve } from 'node:path';
import { aliases } from '../../vitest.shared';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  resolve: { alias: aliases },
  build: {
    outDir: resolve(import.meta.dirname, '../../dist/apps/dashboard'),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1200,
  },
  logLevel: 'warn',
});
