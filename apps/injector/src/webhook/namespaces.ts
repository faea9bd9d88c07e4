import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { NamespaceLabels } from './review';

/** Reads namespace labels from the Kubernetes API (in-cluster or kubeconfig), cached for `ttlMs`. */
export async function kubeNamespaceLabels(log: Logger, ttlMs = 30_000, kubeConfig?: KubeConfig): Promise<NamespaceLabels> {
  const k8s = await import('@kubernetes/client-node');
  const kc = kubeConfig ?? new k8s.KubeConfig();
  if (!kubeConfig) kc.loadFromDefault();
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const cache = new Map<string, { at: number; labels: Record<string, string> | undefined }>();
  return async (namespace) => {
    const hit = cache.get(namespace);
    if (hit && Date.now() - hit.at < ttlMs) return hit.labels;
    try {
      const ns = await api.readNamespace({ name: namespace });
      const labels = ns.metadata?.labels ?? {};
      cache.set(namespace, { at: Date.now(), labels });
      return labels;
    } catch (err) {
      log.warn({ namespace, err: (err as Error).message }, 'could not read namespace labels; trusting the webhook selectors');
      return undefined;
    }
  };
}
