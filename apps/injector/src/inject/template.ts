import type { V1Container, V1EnvVar, V1Pod, V1Volume } from '@kubernetes/client-node';
import { InvalidPodError } from '../errors';
import { captureArgs } from './capture';
import type { InjectionConfig } from './config';
import { ANNOTATION, INJECTED, LABEL, PORTS, PROXY_UID } from './names';
import { rewriteProbes } from './probes';
import { parseInjectValue } from './policy';
import { canonicalName, canonicalRevision, type Workload } from './workload';

/** Where the pod being injected comes from: its namespace and workload, and a name for errors. */
export interface InjectionTarget {
  namespace: string;
  workload: Workload;
  /** e.g. `Pod default/todolist-v1-abc12` or `Deployment default/todolist-v1`, used in error messages. */
  resource: string;
}

/** Istio's proxy log levels and the proxy's (pino) names for them. */
const LOG_LEVELS: Record<string, string> = {
  trace: 'trace', debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error', critical: 'fatal', fatal: 'fatal', off: 'silent',
};

/** The proxy's name for an Istio log level; throws {@link InvalidPodError} for an unknown one. */
function proxyLogLevel(resource: string, level: string): string {
  const mapped = LOG_LEVELS[level.trim().toLowerCase()];
  if (!mapped) {
    throw new InvalidPodError(resource, `metadata.annotations[${ANNOTATION.logLevel}]`, `"${level}" is not a log level (trace, debug, info, warning, error, critical, off)`);
  }
  return mapped;
}

const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

/** Checks the parts of a pod the template relies on, naming the field that is wrong. */
function checkPod(pod: V1Pod, resource: string): void {
  if (typeof pod !== 'object' || pod === null || Array.isArray(pod)) throw new InvalidPodError(resource, '(root)', 'must be an object');
  if (pod.metadata !== undefined && (typeof pod.metadata !== 'object' || pod.metadata === null)) {
    throw new InvalidPodError(resource, 'metadata', 'must be an object');
  }
  for (const key of ['labels', 'annotations'] as const) {
    const map = pod.metadata?.[key];
    if (map === undefined) continue;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new InvalidPodError(resource, `metadata.${key}`, 'must be a map of strings');
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string') throw new InvalidPodError(resource, `metadata.${key}[${k}]`, 'must be a string');
    }
  }
  if (typeof pod.spec !== 'object' || pod.spec === null) throw new InvalidPodError(resource, 'spec', 'is required');
  const containers = pod.spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) throw new InvalidPodError(resource, 'spec.containers', 'must be a non-empty list');
  containers.forEach((c, i) => {
    if (typeof c !== 'object' || c === null || typeof c.name !== 'string' || c.name === '') {
      throw new InvalidPodError(resource, `spec.containers[${i}].name`, 'is required');
    }
    if (c.name === INJECTED.proxyContainer || c.name === INJECTED.initContainer) {
      throw new InvalidPodError(resource, `spec.containers[${i}].name`, `"${c.name}" is reserved for the injected sidecar`);
    }
  });
  if (pod.spec.initContainers !== undefined && !Array.isArray(pod.spec.initContainers)) {
    throw new InvalidPodError(resource, 'spec.initContainers', 'must be a list');
  }
  if (pod.spec.volumes !== undefined && !Array.isArray(pod.spec.volumes)) throw new InvalidPodError(resource, 'spec.volumes', 'must be a list');
  for (const v of pod.spec.volumes ?? []) {
    if ((INJECTED.volumes as readonly string[]).includes(v?.name)) {
      throw new InvalidPodError(resource, 'spec.volumes', `volume name "${v.name}" is reserved for the injected sidecar`);
    }
  }
}

/**
 * Returns the pod with Istio's sidecar injected (a pure function; the input is not changed):
 * `istio-init` (the capture rules) first among the init containers; `istio-proxy` as a native sidecar
 * right after it (or last among the containers when `nativeSidecars` is off); the volumes it mounts;
 * `security.istio.io/tlsMode`, canonical name/revision labels; Prometheus scrape, status and default
 * container annotations; the app's HTTP/TCP probes rewritten to the proxy's status port.
 * Throws {@link InvalidPodError} naming the field when the pod or one of its annotations is unusable.
 */
export function injectPod(input: V1Pod, target: InjectionTarget, config: InjectionConfig): V1Pod {
  checkPod(input, target.resource);
  const pod = structuredClone(input);
  const meta = (pod.metadata ??= {});
  const annotations = { ...(meta.annotations ?? {}) };
  const labels = { ...(meta.labels ?? {}) };
  const spec = pod.spec!;
  const appContainers = spec.containers;

  const initArgs = captureArgs(target.resource, annotations);
  const cpu = annotations[ANNOTATION.proxyCPU] ?? config.resources.requests.cpu;
  const memory = annotations[ANNOTATION.proxyMemory] ?? config.resources.requests.memory;
  const cpuLimit = annotations[ANNOTATION.proxyCPULimit] ?? config.resources.limits.cpu;
  const memoryLimit = annotations[ANNOTATION.proxyMemoryLimit] ?? config.resources.limits.memory;
  for (const [name, value] of [[ANNOTATION.proxyCPU, cpu], [ANNOTATION.proxyCPULimit, cpuLimit]] as const) {
    if (!/^(\d+(\.\d+)?m?|\d*\.\d+)$/.test(value)) throw new InvalidPodError(target.resource, `metadata.annotations[${name}]`, `"${value}" is not a CPU quantity`);
  }
  for (const [name, value] of [[ANNOTATION.proxyMemory, memory], [ANNOTATION.proxyMemoryLimit, memoryLimit]] as const) {
    if (!/^\d+(\.\d+)?([EPTGMk]i?|[mun])?$/.test(value)) throw new InvalidPodError(target.resource, `metadata.annotations[${name}]`, `"${value}" is not a memory quantity`);
  }
  const resources = { requests: { cpu, memory }, limits: { cpu: cpuLimit, memory: memoryLimit } };
  const image = annotations[ANNOTATION.proxyImage] ?? config.proxyImage;

  // Probes: Istio rewrites them unless the pod or the mesh says otherwise.
  const rewrite = parseInjectValue(annotations[ANNOTATION.rewriteAppHTTPProbers]) ?? config.rewriteAppProbes;
  const probed = rewrite ? rewriteProbes(appContainers) : { containers: appContainers, probers: {} };
  spec.containers = probed.containers;

  // Prometheus: the proxy's merged endpoint is scraped; the app's own settings are handed to the proxy.
  const merge = parseInjectValue(annotations[ANNOTATION.mergeMetrics]) ?? true;
  const appScrape: Record<string, string> = {};
  if (merge && annotations[ANNOTATION.prometheusScrape] !== 'false') {
    for (const key of [ANNOTATION.prometheusScrape, ANNOTATION.prometheusPort, ANNOTATION.prometheusPath]) {
      if (annotations[key] !== undefined) appScrape[key.slice('prometheus.io/'.length)] = annotations[key];
    }
    annotations[ANNOTATION.prometheusScrape] = 'true';
    annotations[ANNOTATION.prometheusPort] = String(PORTS.mergedMetrics);
    annotations[ANNOTATION.prometheusPath] = '/stats/prometheus';
  }

  const podPorts = appContainers.flatMap((c) => c.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, protocol: p.protocol ?? 'TCP',
  }));
  const logLevel = proxyLogLevel(target.resource, annotations[ANNOTATION.logLevel] ?? config.proxyLogLevel);

  const env: V1EnvVar[] = [
    { name: 'JWT_POLICY', value: 'third-party-jwt' },
    { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
    { name: 'CA_ADDR', value: config.caAddress },
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('INSTANCE_IP', 'status.podIP'),
    fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    fieldEnv('HOST_IP', 'status.hostIP'),
    { name: 'PROXY_CONFIG', value: JSON.stringify({ discoveryAddress: config.discoveryAddress }) },
    { name: 'DISCOVERY_ADDRESS', value: config.discoveryAddress },
    { name: 'ISTIO_META_POD_PORTS', value: JSON.stringify(podPorts) },
    { name: 'ISTIO_META_APP_CONTAINERS', value: appContainers.map((c) => c.name).join(',') },
    { name: 'ISTIO_META_CLUSTER_ID', value: config.clusterId },
    fieldEnv('ISTIO_META_NODE_NAME', 'spec.nodeName'),
    { name: 'ISTIO_META_INTERCEPTION_MODE', value: 'REDIRECT' },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: target.workload.name },
    { name: 'ISTIO_META_OWNER', value: target.workload.owner },
    { name: 'ISTIO_META_MESH_ID', value: config.meshId },
    { name: 'TRUST_DOMAIN', value: config.trustDomain },
  ];
  if (Object.keys(appScrape).length > 0) env.push({ name: 'ISTIO_PROMETHEUS_ANNOTATIONS', value: JSON.stringify(appScrape) });
  if (Object.keys(probed.probers).length > 0) env.push({ name: 'ISTIO_KUBE_APP_PROBERS', value: JSON.stringify(probed.probers) });

  const initContainer: V1Container = {
    name: INJECTED.initContainer,
    image,
    imagePullPolicy: config.imagePullPolicy,
    args: initArgs,
    resources: structuredClone(resources),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };

  const readinessProbe = { httpGet: { path: '/healthz/ready', port: PORTS.readiness }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 };
  const proxy: V1Container = {
    name: INJECTED.proxyContainer,
    image,
    imagePullPolicy: config.imagePullPolicy,
    args: [
      'proxy', 'sidecar',
      '--domain', '$(POD_NAMESPACE).svc.cluster.local',
      `--proxyLogLevel=${logLevel}`,
    ],
    env,
    ports: [{ containerPort: PORTS.proxyPrometheus, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe,
    // Native sidecars: the app starts only once this probe passes.
    ...(config.nativeSidecars
      ? { restartPolicy: 'Always', startupProbe: { httpGet: { path: '/healthz/ready', port: PORTS.readiness }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 } }
      : {}),
    resources: structuredClone(resources),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
    },
    volumeMounts: [
      { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
      { name: 'istio-data', mountPath: '/var/lib/istio/data' },
      { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
      { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
      { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
    ],
  };

  const volumes: V1Volume[] = [
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    { name: 'istio-data', emptyDir: {} },
    {
      name: 'istio-podinfo',
      downwardAPI: {
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        ],
      },
    },
    { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
    { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
  ];

  const appInit = spec.initContainers ?? [];
  if (config.nativeSidecars) {
    spec.initContainers = [initContainer, proxy, ...appInit];
  } else {
    spec.initContainers = [initContainer, ...appInit];
    spec.containers = [...spec.containers, proxy];
  }
  spec.volumes = [...(spec.volumes ?? []), ...volumes];
  // The projected token is readable by the proxy's group.
  spec.securityContext = { ...(spec.securityContext ?? {}) };
  spec.securityContext.fsGroup ??= PROXY_UID;

  const defaultContainer = appContainers[0].name;
  annotations[ANNOTATION.defaultContainer] ??= defaultContainer;
  annotations[ANNOTATION.defaultLogsContainer] ??= defaultContainer;
  annotations[ANNOTATION.revision] = config.revision;
  annotations[ANNOTATION.status] = JSON.stringify({
    initContainers: config.nativeSidecars ? [INJECTED.initContainer, INJECTED.proxyContainer] : [INJECTED.initContainer],
    containers: config.nativeSidecars ? [] : [INJECTED.proxyContainer],
    volumes: volumes.map((v) => v.name),
    imagePullSecrets: null,
    revision: config.revision,
  });

  labels[LABEL.tlsMode] = 'istio';
  labels[LABEL.canonicalName] = canonicalName(labels, target.workload.name);
  labels[LABEL.canonicalRevision] = canonicalRevision(labels);

  meta.annotations = annotations;
  meta.labels = labels;
  return pod;
}
