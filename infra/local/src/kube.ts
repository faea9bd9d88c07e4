/** Kubernetes objects as the runtime handles them: parsing, label selectors, Deployment → Pod, env and downward API. */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

/** Any Kubernetes object (fields the runtime does not use are kept as they are). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** `metadata` of an object. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  creationTimestamp?: string | null;
  [field: string]: unknown;
}

/** A label selector (`matchLabels` and `matchExpressions`). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** The parts of a container spec the runtime reads. */
export interface ContainerSpec {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  /** `preStop` runs before the container is sent SIGTERM, within the pod's grace period. */
  lifecycle?: { preStop?: LifecycleHandler; postStart?: LifecycleHandler };
  restartPolicy?: string;
  imagePullPolicy?: string;
  securityContext?: {
    runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean; privileged?: boolean; capabilities?: { add?: string[]; drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  workingDir?: string;
}

/** An env entry. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string; apiVersion?: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

/** A container lifecycle handler (`lifecycle.preStop`): one of exec, httpGet, sleep. */
export interface LifecycleHandler {
  exec?: { command: string[] };
  httpGet?: { path?: string; port: number | string; scheme?: string; host?: string; httpHeaders?: { name: string; value: string }[] };
  sleep?: { seconds: number };
}

/** A probe (httpGet, tcpSocket or exec) and its timing. */
export interface Probe {
  httpGet?: { path?: string; port: number | string; scheme?: string; host?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command: string[] };
  grpc?: { port: number };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** The parts of a pod spec the runtime reads. */
export interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  volumes?: Volume[];
  serviceAccountName?: string;
  serviceAccount?: string;
  nodeName?: string;
  restartPolicy?: string;
  securityContext?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean; fsGroup?: number; supplementalGroups?: number[] };
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  /** The pod's DNS hostname; with `subdomain`, `<hostname>.<subdomain>.<ns>.svc.cluster.local` through a headless Service of that name. */
  hostname?: string;
  subdomain?: string;
  [field: string]: unknown;
}

/** A pod volume (the source kinds the runtime materialises). */
export interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  secret?: { secretName: string; optional?: boolean; items?: { key: string; path: string }[] };
  configMap?: { name: string; optional?: boolean; items?: { key: string; path: string }[] };
  downwardAPI?: { items: DownwardItem[] };
  projected?: { sources: ProjectedSource[] };
}

/** A downwardAPI file. */
export interface DownwardItem {
  path: string;
  fieldRef?: { fieldPath: string };
}

/** One source of a projected volume. */
export interface ProjectedSource {
  serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
  configMap?: { name: string; optional?: boolean; items?: { key: string; path: string }[] };
  secret?: { name: string; optional?: boolean; items?: { key: string; path: string }[] };
  downwardAPI?: { items: DownwardItem[] };
}

/** A Pod object. */
export interface PodObject extends KubeObject {
  kind: 'Pod';
  spec: PodSpec;
  status?: Record<string, unknown>;
}

/** A Service port. */
export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  nodePort?: number;
  appProtocol?: string;
}

/** A Service object. */
export interface ServiceObject extends KubeObject {
  kind: 'Service';
  spec: { selector?: Record<string, string>; ports?: ServicePort[]; type?: string; clusterIP?: string; clusterIPs?: string[]; publishNotReadyAddresses?: boolean };
}

/** `namespace/name` of an object (cluster-scoped objects have no namespace). */
export function keyOf(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? '');
}

/** Kinds that live in no namespace. */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'IngressClass', 'GatewayClass', 'Node', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

/** Whether `kind` is cluster-scoped. */
export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

/** Parses multi-document YAML (or JSON) into objects, skipping empty documents and `List`s' wrappers. */
export function parseManifests(text: string, source = 'input'): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0].message}`);
    const v = doc.toJS() as unknown;
    if (v === null || v === undefined) continue;
    collect(v, source, out);
  }
  return out;
}

function collect(v: unknown, source: string, out: KubeObject[]): void {
  const o = v as Partial<KubeObject> & { items?: unknown[] };
  if (typeof o !== 'object' || !o.kind || !o.apiVersion) throw new Error(`${source}: a document without kind/apiVersion`);
  if (o.kind.endsWith('List') && Array.isArray(o.items)) {
    for (const item of o.items) collect(item, source, out);
    return;
  }
  o.metadata ??= {};
  if (!o.metadata.name && !o.metadata.generateName) throw new Error(`${source}: ${o.kind} without metadata.name`);
  out.push(o as KubeObject);
}

/**
 * Reads manifests from files and directories. A directory with a kustomization.yaml is read in its
 * `resources` order (recursively); any other directory gives its YAML files in name order.
 */
export function loadManifests(paths: readonly string[]): KubeObject[] {
  const out: KubeObject[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      const kfile = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(p, f)).find((f) => exists(f));
      if (kfile) {
        const k = parseYaml(readFileSync(kfile, 'utf8')) as { resources?: string[] };
        out.push(...loadManifests((k.resources ?? []).map((r) => join(p, r))));
      } else {
        const files = readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
        out.push(...loadManifests(files.map((f) => join(p, f))));
      }
    } else out.push(...parseManifests(readFileSync(p, 'utf8'), p).filter((o) => o.kind !== 'Kustomization'));
  }
  return out;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Whether `labels` satisfy `selector` (an empty selector matches everything). */
export function matchesSelector(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(labels[e.key])) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(labels[e.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

const SAFE = 'bcdfghjklmnpqrstvwxz2456789';

/** Kubernetes' "safe" encoding of a hash into pod-template-hash characters. */
function safeEncode(bytes: Uint8Array, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SAFE[bytes[i] % SAFE.length];
  return s;
}

/** The `pod-template-hash` of a pod template (stable for the same template). */
export function podTemplateHash(template: unknown): string {
  return safeEncode(createHash('sha256').update(JSON.stringify(template)).digest(), 10);
}

/** The Pods a Deployment's ReplicaSet would create: template labels plus pod-template-hash, owner reference, generated names. */
export function podsForDeployment(dep: KubeObject): PodObject[] {
  const spec = dep.spec as { replicas?: number; template: { metadata?: ObjectMeta; spec: PodSpec } };
  const ns = dep.metadata.namespace ?? 'default';
  const hash = podTemplateHash(spec.template);
  const rsName = `${dep.metadata.name}-${hash}`;
  const replicas = spec.replicas ?? 1;
  const out: PodObject[] = [];
  for (let i = 0; i < replicas; i++) out.push(podFromTemplate(spec.template, ns, rsName, uidFromName(`${ns}/${rsName}`)));
  return out;
}

/** One Pod from a template, as the ReplicaSet controller creates it (name from generateName). */
export function podFromTemplate(template: { metadata?: ObjectMeta; spec: PodSpec }, namespace: string, rsName: string, rsUid: string): PodObject {
  const meta = structuredClone(template.metadata ?? {});
  const hash = rsName.slice(rsName.lastIndexOf('-') + 1);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...meta,
      generateName: `${rsName}-`,
      namespace,
      labels: { ...(meta.labels ?? {}), 'pod-template-hash': hash },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rsName, uid: rsUid, controller: true, blockOwnerDeletion: true }],
    },
    spec: defaultPodSpec(structuredClone(template.spec)),
  };
}

/** Fills the defaults the API server would (service account, restart policy, grace period). */
export function defaultPodSpec(spec: PodSpec): PodSpec {
  spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  spec.serviceAccount = spec.serviceAccountName;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  return spec;
}

/** Gives a pod the name (from generateName) and uid the API server would. */
export function admitName(pod: PodObject): void {
  if (!pod.metadata.name) pod.metadata.name = `${pod.metadata.generateName ?? 'pod-'}${safeEncode(randomBytes(5), 5)}`;
  pod.metadata.uid ??= randomUUID();
  pod.metadata.namespace ??= 'default';
  pod.metadata.creationTimestamp = new Date().toISOString();
}

/** A deterministic uuid-shaped uid from a name. */
export function uidFromName(name: string): string {
  const h = createHash('sha1').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Values the downward API can expose for one pod. */
export interface PodFacts {
  pod: PodObject;
  podIP: string;
  hostIP: string;
  nodeName: string;
}

/** Resolves a downward-API `fieldPath` (metadata.name, metadata.labels['k'], status.podIP, …). */
export function fieldRef(path: string, f: PodFacts): string {
  const m = f.pod.metadata;
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub) return (sub[1] === 'labels' ? m.labels : m.annotations)?.[sub[2]] ?? '';
  switch (path) {
    case 'metadata.name':
      return m.name ?? '';
    case 'metadata.namespace':
      return m.namespace ?? '';
    case 'metadata.uid':
      return m.uid ?? '';
    case 'metadata.labels':
      return formatDownwardMap(m.labels);
    case 'metadata.annotations':
      return formatDownwardMap(m.annotations);
    case 'spec.nodeName':
      return f.nodeName;
    case 'spec.serviceAccountName':
      return f.pod.spec.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
      return f.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return f.podIP;
    default:
      throw new Error(`fieldRef "${path}" is not supported`);
  }
}

/** The downward API's file format for labels/annotations: `key="value"` lines, sorted by key. */
export function formatDownwardMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map![k])}`)
    .join('\n');
}

/** Looks up ConfigMap/Secret keys for env (`configMapKeyRef`, `secretKeyRef`). */
export type KeyLookup = (kind: 'ConfigMap' | 'Secret', namespace: string, name: string, key: string) => string | undefined;

/** A container's environment: literal values, fieldRefs and key refs, with `$(VAR)` expanded as the kubelet does. */
export function resolveEnv(c: ContainerSpec, f: PodFacts, lookup: KeyLookup): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    let v: string | undefined;
    if (e.valueFrom?.fieldRef) v = fieldRef(e.valueFrom.fieldRef.fieldPath, f);
    else if (e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef) {
      const ref = (e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef)!;
      v = lookup(e.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret', f.pod.metadata.namespace ?? 'default', ref.name, ref.key);
      if (v === undefined && !ref.optional) throw new Error(`env ${e.name}: ${e.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret'} ${ref.name} has no key ${ref.key}`);
      if (v === undefined) continue;
    } else v = expandVars(e.value ?? '', env);
    env[e.name] = v;
  }
  return env;
}

/** Expands `$(VAR)` from `env` (unknown references stay as written, `$$` escapes), as in command, args and env values. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && Object.hasOwn(env, name) ? env[name] : m;
  });
}

/** Resolves a probe/Service port (number, or a container port name). */
export function resolvePort(port: number | string | undefined, containers: ContainerSpec[]): number | undefined {
  if (port === undefined) return undefined;
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  for (const c of containers) for (const p of c.ports ?? []) if (p.name === port) return p.containerPort;
  return undefined;
}

/** The data of a Secret or ConfigMap as strings (Secret `data` is base64, `stringData` plain). */
export function dataOf(o: KubeObject): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const data = (o.data ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(data)) out[k] = o.kind === 'Secret' ? Buffer.from(v, 'base64') : Buffer.from(v);
  for (const [k, v] of Object.entries((o.stringData ?? {}) as Record<string, string>)) out[k] = Buffer.from(v);
  for (const [k, v] of Object.entries((o.binaryData ?? {}) as Record<string, string>)) out[k] = Buffer.from(v, 'base64');
  return out;
}
