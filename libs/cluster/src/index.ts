/** @tsmesh/cluster: the cluster driver abstraction and the kind pieces the demo and the e2e suite share. */
export { runCli, type CliOptions } from './cli';
export { KindCli, Kubectl, KIND_MIN_VERSION, MESH_IMAGES, applyPayload, clusterConfig, kindUnavailable, versionAtLeast } from './kind';
export type { ClusterDriver } from './driver';
