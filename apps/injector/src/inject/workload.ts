import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { LABEL } from './names';

/** The workload a pod belongs to, as Istio reports it (`ISTIO_META_WORKLOAD_NAME`, `ISTIO_META_OWNER`). */
export interface Workload {
  /** Deployment, StatefulSet, … name; the pod's own name when it has no controller. */
  name: string;
  /** `kubernetes://apis/<group/version>/namespaces/<ns>/<plural>/<name>`. */
  owner: string;
}

const PLURALS: Record<string, string> = {
  Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets', ReplicaSet: 'replicasets',
  Job: 'jobs', CronJob: 'cronjobs', Pod: 'pods', ReplicationController: 'replicationcontrollers',
};

/** Formats Istio's owner URI for a kind/apiVersion/name in a namespace. */
export function ownerUri(apiVersion: string, kind: string, namespace: string, name: string): string {
  const plural = PLURALS[kind] ?? `${kind.toLowerCase()}s`;
  const prefix = apiVersion === 'v1' ? 'api/v1' : `apis/${apiVersion}`;
  return `kubernetes://${prefix}/namespaces/${namespace}/${plural}/${name}`;
}

/**
 * The workload of a pod seen by the webhook: a ReplicaSet named `<deployment>-<pod-template-hash>`
 * stands for its Deployment; a Job, StatefulSet or DaemonSet for itself; no controller, the pod.
 */
export function podWorkload(meta: V1ObjectMeta, namespace: string): Workload {
  const controller: V1OwnerReference | undefined = meta.ownerReferences?.find((o) => o.controller) ?? meta.ownerReferences?.[0];
  const podName = meta.name || (meta.generateName ? meta.generateName.replace(/-$/, '') : 'unknown');
  if (!controller) return { name: podName, owner: ownerUri('v1', 'Pod', namespace, podName) };
  if (controller.kind === 'ReplicaSet') {
    const hash = meta.labels?.['pod-template-hash'];
    if (hash && controller.name.endsWith(`-${hash}`)) {
      const deployment = controller.name.slice(0, -(hash.length + 1));
      return { name: deployment, owner: ownerUri('apps/v1', 'Deployment', namespace, deployment) };
    }
  }
  return { name: controller.name, owner: ownerUri(controller.apiVersion, controller.kind, namespace, controller.name) };
}

/** Istio's canonical service name: its label, `app.kubernetes.io/name`, `app`, else the workload name. */
export function canonicalName(labels: Record<string, string>, workloadName: string): string {
  return labels[LABEL.canonicalName] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workloadName;
}

/** Istio's canonical revision: its label, `app.kubernetes.io/version`, `version`, else "latest". */
export function canonicalRevision(labels: Record<string, string>): string {
  return labels[LABEL.canonicalRevision] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
}
