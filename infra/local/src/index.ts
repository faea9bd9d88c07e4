/** @tsmesh/local-runtime: runs the infra/k8s manifests on one Linux machine with Kubernetes' semantics. */
export { LocalRuntime, type LocalRuntimeOptions, type PodInfo, type ExecResult } from './runtime';
export { cleanup, type CleanupReport } from './cleanup';
export { IMAGES, imageName, containerArgv, UnknownImageError, type ImageEntry, type ImageContext } from './images';
export { applyJsonPatch, JsonPatchError, type PatchOperation } from './json-patch';
export { TokenIssuer, DEFAULT_ISSUER, type TokenRequest } from './tokens';
export { HostNetwork, type ServiceRule, type PodNetwork } from './network';
export { RunNames, PREFIX, newRunId } from './names';
export { hostsFile, resolvConf, serviceNames, CLUSTER_DOMAIN } from './dns';
export { endpointSlicesFor } from './endpoints';
export { admitPod, matchingWebhooks, callWebhook, AdmissionError, type MutatingWebhook } from './admission';
export { MeshPki, secret } from './pki';
export { LocalPod } from './pod';
export * from './kube';
export { startPrometheus, prometheusUnavailable, scrapeTargets, scrapePodsOf, prometheusConfig, PROMETHEUS_BINARY, JOBS as PROMETHEUS_JOBS, type RunningPrometheus, type PrometheusOptions, type ScrapePod, type TargetGroup } from './prometheus';
export { ImageStore, checkPullPolicy, defaultPullPolicy, readAccounts, ImagePullError, type ImageConfig, type PreparedImage, type PullPolicy, type ImageStoreOptions } from './image-rootfs';
export { capabilitySet, resolveUser, imageProcess, imageLaunchScript, ContainerConfigError, DEFAULT_CAPABILITIES, type ImageLaunch, type SecurityContext, type PodSecurityContext } from './image-launch';
export { ImageRunner, type FromImagesOptions } from './image-runner';
export { hostAddress, imagesWithTracing, withTracingArgs } from './tracing';
