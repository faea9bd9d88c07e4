/**
 * Automated deployment of a Gateway API Gateway, as Istio's gateway controller does it: a Gateway
 * of class `istio` with no `spec.addresses` gets, in its namespace, a ServiceAccount, a Deployment
 * running tsmesh's proxy in router mode and a Service with the listeners' ports, all named
 * `<gateway>-istio` and owned by the Gateway (`ownerReferences`, so Kubernetes' garbage collector
 * removes them with it). A Gateway with `spec.addresses` binds to an existing gateway deployment
 * instead (manual deployment) and gets nothing. The Service is a LoadBalancer unless the Gateway's
 * `networking.istio.io/service-type` annotation says otherwise; `spec.infrastructure.labels` and
 * `annotations` are copied onto the objects and the pods. The local runtime's deployer and the
 * control plane's (on Kubernetes) both deploy what this renders.
 */
import type { KubernetesGatewayObject, GatewayClassObject } from '../types/gateway-api';
import type { ConfigResource } from '../resource';
import { GATEWAY_API_GROUP } from '../kinds';
import { GATEWAY_CONTROLLER } from '../analysis/gateway-api-status';

/** Label carried by the pods (and objects) deployed for a Gateway: the Gateway's name. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';
/** Label Istio also puts on them. */
export const ISTIO_GATEWAY_NAME_LABEL = 'istio.io/gateway-name';

/** A plain Kubernetes object as the deployment is made of. */
export interface DeployedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string>; ownerReferences: { apiVersion: string; kind: string; name: string; uid: string; controller: boolean; blockOwnerDeletion: boolean }[] };
  [k: string]: unknown;
}

/** Options of {@link gatewayDeployment}. */
export interface GatewayDeploymentOptions {
  /** The proxy image (default `tsmesh/proxy:latest`). */
  image?: string;
  /** The control plane's xDS address (default `istiod.istio-system.svc:15010`). */
  discoveryAddress?: string;
  /** The CA's address (default `istio-ca.istio-system.svc:8060`). */
  caAddress?: string;
  /** Trust domain (default `cluster.local`). */
  trustDomain?: string;
}

/** Istio's annotation on a Gateway choosing its Service's type (default `LoadBalancer`). */
export const SERVICE_TYPE_ANNOTATION = 'networking.istio.io/service-type';
/** The Service types a Gateway's deployment can have. */
export const GATEWAY_SERVICE_TYPES = ['LoadBalancer', 'NodePort', 'ClusterIP'] as const;
/** Label marking the objects Istio's gateway controller manages (and tsmesh's). */
export const MANAGED_LABEL = 'gateway.istio.io/managed';

/** True when tsmesh deploys `gw`: class `istio` (or a class of `istio.io/gateway-controller`) and no `spec.addresses`. */
export function isAutomatedGateway(gw: KubernetesGatewayObject, classes: readonly GatewayClassObject[] = []): boolean {
  const ours = gw.spec.gatewayClassName === 'istio' || classes.some((c) => c.metadata?.name === gw.spec.gatewayClassName && c.spec?.controllerName === GATEWAY_CONTROLLER);
  return ours && !gw.spec.addresses?.length;
}

/** Name of the objects deployed for Gateway `name` (Istio's `<gateway>-<class>`). */
export const deployedName = (name: string) => `${name}-istio`;

/**
 * The container port a listener port is served on: the port itself, except that ports below 1024
 * move up by 8000 (80 → 8080, 443 → 8443), as the seeds' ingress gateway does, because the proxy
 * runs as UID 1337 without privileges. The control plane binds a server to the Service's
 * `targetPort`, so the listener still answers on its own port at the Service.
 */
export const containerPortFor = (port: number) => (port < 1024 ? port + 8000 : port);

/** The ServiceAccount, Deployment and Service of an automatically deployed Gateway. */
export function gatewayDeployment(gw: KubernetesGatewayObject, opts: GatewayDeploymentOptions = {}): DeployedObject[] {
  const name = gw.metadata?.name;
  const namespace = gw.metadata?.namespace ?? 'default';
  const uid = gw.metadata?.uid;
  if (!name) throw new Error('Gateway has no metadata.name');
  if (!uid) throw new Error(`Gateway ${namespace}/${name} has no metadata.uid (needed for ownerReferences)`);
  const obj = deployedName(name);
  const serviceType = gw.metadata?.annotations?.[SERVICE_TYPE_ANNOTATION] ?? 'LoadBalancer';
  if (!(GATEWAY_SERVICE_TYPES as readonly string[]).includes(serviceType)) {
    throw new Error(`Gateway ${namespace}/${name}: metadata.annotations[${SERVICE_TYPE_ANNOTATION}] "${serviceType}" is not one of ${GATEWAY_SERVICE_TYPES.join(', ')}`);
  }
  // spec.infrastructure.labels/annotations go on every object made and on the pods (Gateway API
  // GatewayInfrastructure); the controller's own labels win over them.
  const infraLabels = { ...(gw.spec.infrastructure?.labels ?? {}) };
  const infraAnnotations = { ...(gw.spec.infrastructure?.annotations ?? {}) };
  const labels = { ...infraLabels, [GATEWAY_NAME_LABEL]: name, [ISTIO_GATEWAY_NAME_LABEL]: name, [MANAGED_LABEL]: 'istio.io-gateway-controller' };
  const metadata = () => ({
    name: obj, namespace, labels: { ...labels },
    ...(Object.keys(infraAnnotations).length ? { annotations: { ...infraAnnotations } } : {}),
    ownerReferences: [{ apiVersion: gw.apiVersion ?? `${GATEWAY_API_GROUP}/v1`, kind: 'Gateway', name, uid, controller: true, blockOwnerDeletion: true }],
  });
  const ports = [...new Map(gw.spec.listeners.map((l) => [l.port, l])).values()];
  const portName = (l: (typeof ports)[number]) => `${(l.protocol === 'HTTPS' ? 'https' : l.protocol === 'HTTP' ? 'http' : l.protocol === 'TLS' ? 'tls' : 'tcp')}-${l.port}`;
  const discovery = opts.discoveryAddress ?? 'istiod.istio-system.svc:15010';
  const fieldEnv = (n: string, path: string) => ({ name: n, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: path } } });
  const podLabels = { ...labels, 'service.istio.io/canonical-name': obj, 'service.istio.io/canonical-revision': 'latest', 'sidecar.istio.io/inject': 'false' };
  const deployment: DeployedObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(),
    spec: {
      replicas: 1,
      selector: { matchLabels: { [GATEWAY_NAME_LABEL]: name } },
      template: {
        metadata: {
          labels: podLabels,
          annotations: { ...infraAnnotations, 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' },
        },
        spec: {
          serviceAccountName: obj,
          securityContext: { runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337, fsGroup: 1337 },
          containers: [{
            name: 'istio-proxy',
            image: opts.image ?? 'tsmesh/proxy:latest',
            imagePullPolicy: 'IfNotPresent',
            args: ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local', '--proxyLogLevel=warn'],
            env: [
              { name: 'JWT_POLICY', value: 'third-party-jwt' },
              { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
              { name: 'CA_ADDR', value: opts.caAddress ?? 'istio-ca.istio-system.svc:8060' },
              fieldEnv('POD_NAME', 'metadata.name'),
              fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
              fieldEnv('INSTANCE_IP', 'status.podIP'),
              fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
              fieldEnv('HOST_IP', 'status.hostIP'),
              { name: 'PROXY_CONFIG', value: JSON.stringify({ discoveryAddress: discovery }) },
              { name: 'DISCOVERY_ADDRESS', value: discovery },
              { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
              { name: 'ISTIO_META_WORKLOAD_NAME', value: obj },
              { name: 'ISTIO_META_OWNER', value: `kubernetes://apis/apps/v1/namespaces/${namespace}/deployments/${obj}` },
              { name: 'ISTIO_META_MESH_ID', value: opts.trustDomain ?? 'cluster.local' },
              { name: 'TRUST_DOMAIN', value: opts.trustDomain ?? 'cluster.local' },
            ],
            ports: [
              ...ports.map((l) => ({ name: portName(l), containerPort: containerPortFor(l.port), protocol: 'TCP' })),
              { name: 'status-port', containerPort: 15021, protocol: 'TCP' },
              { name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP' },
            ],
            readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' }, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 30 },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
            volumeMounts: [
              { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
              { name: 'istio-data', mountPath: '/var/lib/istio/data' },
              { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
              { name: 'istio-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
              { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
            ],
          }],
          volumes: [
            { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
            { name: 'istio-data', emptyDir: {} },
            { name: 'istio-podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }] } },
            { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
            { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
          ],
        },
      },
    },
  };
  const service: DeployedObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(),
    spec: {
      type: serviceType,
      selector: { [GATEWAY_NAME_LABEL]: name },
      ports: [
        { name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' },
        ...ports.map((l) => ({ name: portName(l), port: l.port, targetPort: containerPortFor(l.port), protocol: 'TCP' })),
      ],
    },
  };
  return [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata() }, deployment, service];
}

/**
 * The Service a Gateway's `spec.addresses` names (Istio's manual deployment): a Hostname that is a
 * Service's name (`svc`, `svc.ns`, `svc.ns.svc`, the FQDN), or an IPAddress that is its cluster IP.
 */
export function addressedService(gw: KubernetesGatewayObject, gwNamespace: string, byKind: (kind: string) => readonly ConfigResource[], domain = 'cluster.local'): ConfigResource | undefined {
  for (const a of gw.spec.addresses ?? []) {
    const value = a.value;
    if (!value) continue;
    for (const s of byKind('Service')) {
      const spec = (s.object as { spec?: { clusterIP?: string; clusterIPs?: string[] } }).spec;
      if ((a.type ?? 'IPAddress') === 'IPAddress') {
        if (spec?.clusterIP === value || spec?.clusterIPs?.includes(value)) return s;
        continue;
      }
      const names = [`${s.name}.${s.namespace}.svc.${domain}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`, ...(s.namespace === gwNamespace ? [s.name] : [])];
      if (names.includes(value)) return s;
    }
  }
  return undefined;
}

/**
 * The Service that carries a Gateway's address: the one its `spec.addresses` names (manual
 * deployment), else `<name>-istio` in its namespace (automated deployment).
 */
export function gatewayService(gw: KubernetesGatewayObject, gwNamespace: string, byKind: (kind: string) => readonly ConfigResource[], domain = 'cluster.local'): ConfigResource | undefined {
  if (gw.spec.addresses?.length) return addressedService(gw, gwNamespace, byKind, domain);
  const name = deployedName(gw.metadata?.name ?? '');
  return byKind('Service').find((s) => s.namespace === gwNamespace && s.name === name);
}
