/** Picks the mesh driver (`@tsmesh/cluster`) from `E2E_DRIVER` (`local`, the default, or `kind`) and the suite's other `E2E_*` settings. */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KindMeshDriver, LocalMeshDriver, type MeshDriver } from '@tsmesh/cluster';

export type { MeshDriver, ExecOutput } from './types';
export { KindMeshDriver, LocalMeshDriver } from '@tsmesh/cluster';

/** The workspace root. */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** The driver named by `E2E_DRIVER`. */
export function driverFromEnv(log?: (line: string) => void): MeshDriver {
  const name = process.env.E2E_DRIVER ?? 'local';
  if (name === 'kind') {
    return new KindMeshDriver(ROOT, {
      clusterName: process.env.E2E_KIND_CLUSTER ?? 'tsmesh-e2e',
      kubeconfig: process.env.E2E_KIND_KUBECONFIG,
      ports: { http: Number(process.env.E2E_KIND_HTTP_PORT ?? 18080), https: Number(process.env.E2E_KIND_HTTPS_PORT ?? 18443) },
      // E2E_IMAGE_BUILD=host builds without an image registry (as infra's image tests do).
      imageBuildArgs: process.env.E2E_IMAGE_BUILD === 'host' ? ['--host'] : [],
      keepCluster: process.env.E2E_KEEP_CLUSTER === '1',
      log,
    });
  }
  if (name === 'local') {
    return new LocalMeshDriver(ROOT, {
      log,
      fromImages: process.env.E2E_LOCAL_IMAGES === '1',
      // The proxies export traces over OTLP/HTTP to this machine, where the tracing scenario runs the
      // receiver; sampling stays at its default (1 %) and the scenario sends sampled trace headers.
      tracing: process.env.E2E_TRACING === '0' ? false : {},
    });
  }
  throw new Error(`E2E_DRIVER="${name}": expected local or kind`);
}
