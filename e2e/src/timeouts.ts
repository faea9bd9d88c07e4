/**
 * How long the suite's setup hook may take per driver: on kind it creates a cluster, builds and
 * loads seven images and waits for the rollout (40 minutes); the local driver starts in seconds (5).
 */
export function hookTimeoutFor(driver: string | undefined): number {
  return driver === 'kind' ? 2_400_000 : 300_000;
}
