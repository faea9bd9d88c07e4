/** What a scenario needs from a cluster: `@tsmesh/cluster`'s mesh driver, written once, run on the local runtime or on kind. */
export type { ExecOutput, MeshDriver } from '@tsmesh/cluster';
