/** @tsmesh/cluster: the mesh driver (one interface, the local runtime and kind behind it) the demo and the e2e suite share, and the kind and kubectl pieces under it. */
export { runCli, type CliOptions } from './cli';
export { KindCli, Kubectl, KIND_MIN_VERSION, MESH_IMAGES, applyPayload, clusterConfig, kindUnavailable, versionAtLeast } from './kind';
export { describeObjects, selectorOf } from './driver';
export type { ExecOutput, GatewayApiMesh, MeshDriver, MeshSnapshot, PodView, ProgressSink, UpOptions } from './driver';
export { Forward, freeLoopbackPort, portFree } from './forward';
export { LocalMeshDriver, imageTag, leftovers, type LocalDriverOptions } from './local-driver';
export { KindMeshDriver, CAPTURE_CONTAINER, CAPTURE_IMAGE, renderKustomization, type KindDriverOptions } from './kind-driver';
export { StandInTools } from './stand-in-tools';
