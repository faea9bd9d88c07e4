/** Bootstrap: the proxy's identity and settings from flags and the pod's downward-API env. */
import { readFileSync } from 'node:fs';
import { CLIENT_FEATURE_VHDS, formatNodeId, type Node, type ProxyType } from '@tsmesh/xds';
import { accessLogTarget } from '../telemetry/access-log';

/** Everything the proxy needs to start. */
export interface Bootstrap {
  type: ProxyType;
  nodeId: string;
  podName: string;
  namespace: string;
  ip: string;
  serviceAccount: string;
  domain: string;
  trustDomain: string;
  labels: Record<string, string>;
  discoveryAddress: string;
  adminHost: string;
  adminPort: number;
  statusPort: number;
  prometheusPort: number;
  drainMs: number;
  logLevel: string;
  /** CA address (`CA_ADDR`); '' disables the certificate agent. */
  caAddress: string;
  /** Root that verifies the CA (the mounted `istio-ca-root-cert`). */
  caRootFile: string;
  /** Projected service-account token for the CA. */
  tokenFile: string;
  /** Requested workload certificate lifetime in seconds (0: the CA's default). */
  secretTtlSeconds: number;
  /** Merged metrics port (proxy + app), Istio's 15020; null disables it. */
  mergedMetricsPort: number | null;
  /** Access log target: stdout, off, or a file. */
  accessLog: string;
  /** OTLP/HTTP traces endpoint ('' for no tracing). */
  tracingOtlp: string;
  /** Percentage of new traces sampled. */
  traceSampling: number;
  /** Workload name (`ISTIO_META_WORKLOAD_NAME`). */
  workloadName: string;
  /** Cluster id (`ISTIO_META_CLUSTER_ID`). */
  clusterId: string;
  /** Quiet time after applied config before a heap compaction (agent/heap-compaction.ts); null: off. */
  heapCompactionQuietMs: number | null;
}

/** Flags as commander hands them over (strings), all optional. */
export interface BootstrapFlags {
  podName?: string;
  podNamespace?: string;
  ip?: string;
  serviceAccount?: string;
  domain?: string;
  trustDomain?: string;
  labelsFile?: string;
  discoveryAddress?: string;
  adminHost?: string;
  adminPort?: string;
  statusPort?: string;
  prometheusPort?: string;
  drainDuration?: string;
  logLevel?: string;
  nodeId?: string;
  caAddress?: string;
  caRootFile?: string;
  tokenFile?: string;
  secretTtl?: string;
  mergedMetricsPort?: string;
  accessLog?: string;
  tracingOtlp?: string;
  traceSampling?: string;
  heapCompaction?: string;
}

/** Parses Kubernetes downward-API label files (`key="value"` per line). */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let v = line.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = JSON.parse(v) as string;
    out[line.slice(0, eq).trim()] = v;
  }
  return out;
}

/** Parses a duration like `5s`, `500ms`, `1m` (a bare number is seconds). */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`invalid duration "${s}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : m[2] === 'h' ? n * 3_600_000 : n * 1000;
}

function port(v: string | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name}: "${v}" is not a port`);
  return n;
}

/** Builds the bootstrap; flags win over env. */
export function bootstrap(type: ProxyType, f: BootstrapFlags, env: NodeJS.ProcessEnv = process.env): Bootstrap {
  const podName = f.podName ?? env.POD_NAME ?? '';
  const namespace = f.podNamespace ?? env.POD_NAMESPACE ?? 'default';
  const ip = f.ip ?? env.INSTANCE_IP ?? '127.0.0.1';
  if (!podName) throw new Error('pod name unknown: set POD_NAME or --pod-name');
  const domain = f.domain ?? `${namespace}.svc.cluster.local`;
  let labels: Record<string, string> = {};
  const labelsFile = f.labelsFile ?? '/etc/istio/pod/labels';
  try {
    labels = parseLabels(readFileSync(labelsFile, 'utf8'));
  } catch {
    // no labels file outside Kubernetes
  }
  return {
    type,
    nodeId: f.nodeId ?? formatNodeId({ type, ip, podName, namespace, domain }),
    podName,
    namespace,
    ip,
    serviceAccount: f.serviceAccount ?? env.SERVICE_ACCOUNT ?? 'default',
    domain,
    trustDomain: f.trustDomain ?? env.TRUST_DOMAIN ?? 'cluster.local',
    labels,
    discoveryAddress: f.discoveryAddress ?? env.DISCOVERY_ADDRESS ?? 'istiod.istio-system.svc:15010',
    adminHost: f.adminHost ?? '127.0.0.1',
    adminPort: port(f.adminPort, 15000, 'admin-port'),
    statusPort: port(f.statusPort, 15021, 'status-port'),
    prometheusPort: port(f.prometheusPort, 15090, 'prometheus-port'),
    drainMs: parseDuration(f.drainDuration ?? env.TERMINATION_DRAIN_DURATION_SECONDS ?? '5s'),
    logLevel: f.logLevel ?? env.PROXY_LOG_LEVEL ?? 'info',
    caAddress: f.caAddress ?? env.CA_ADDR ?? '',
    caRootFile: f.caRootFile ?? env.CA_ROOT_FILE ?? '/var/run/secrets/istio/root-cert.pem',
    tokenFile: f.tokenFile ?? env.TOKEN_FILE ?? '/var/run/secrets/tokens/istio-token',
    secretTtlSeconds: Math.round(parseDuration(f.secretTtl ?? env.SECRET_TTL ?? '0s') / 1000),
    mergedMetricsPort: f.mergedMetricsPort === 'off' ? null : port(f.mergedMetricsPort, 15020, 'merged-metrics-port'),
    accessLog: accessLogTarget(f.accessLog, env),
    tracingOtlp: f.tracingOtlp ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '',
    traceSampling: Number(f.traceSampling ?? env.TRACE_SAMPLING ?? '1'),
    workloadName: env.ISTIO_META_WORKLOAD_NAME ?? '',
    clusterId: env.ISTIO_META_CLUSTER_ID ?? 'Kubernetes',
    heapCompactionQuietMs: f.heapCompaction === 'off' ? null : parseDuration(f.heapCompaction ?? '1s'),
  };
}

const str = (v: string) => ({ stringValue: v });

/** The xDS `Node` (id, cluster, Istio's metadata keys). */
export function xdsNode(b: Bootstrap): Node {
  const app = b.labels.app ?? b.labels['app.kubernetes.io/name'] ?? b.podName;
  return {
    id: b.nodeId,
    cluster: `${app}.${b.namespace}`,
    user_agent_name: 'tsmesh-proxy',
    // Route tables may come as VHDS: virtual hosts over a Delta xDS stream (see agent/xds-config.ts).
    client_features: [CLIENT_FEATURE_VHDS],
    metadata: {
      fields: {
        NAME: str(b.podName),
        NAMESPACE: str(b.namespace),
        INSTANCE_IPS: str(b.ip),
        SERVICE_ACCOUNT: str(b.serviceAccount),
        PROXY_TYPE: str(b.type),
        MESH_ID: str(b.trustDomain),
        LABELS: { structValue: { fields: Object.fromEntries(Object.entries(b.labels).map(([k, v]) => [k, str(v)])) } },
      },
    },
  } as Node;
}
