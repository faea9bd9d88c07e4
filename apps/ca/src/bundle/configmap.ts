/**
 * Trust bundle on Kubernetes: the ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in every
 * namespace, as Istio publishes it. Reconciled at start and then every resync period, so new
 * namespaces get it and edited copies are put back.
 */
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { statusOf } from '../root/secret-store';

/** Name and key of the trust bundle ConfigMap. */
export const ROOT_CERT_CONFIGMAP = { name: 'istio-ca-root-cert', key: 'root-cert.pem' } as const;

/** Result of one reconcile pass. */
export interface ReconcileResult {
  created: string[];
  updated: string[];
  failed: { namespace: string; reason: string }[];
}

/** Keeps `istio-ca-root-cert` in every namespace equal to the bundle. */
export class ConfigMapBundlePublisher {
  private readonly api: CoreV1Api;
  private timer: NodeJS.Timeout | undefined;

  constructor(kc: KubeConfig, private readonly bundlePem: string, private readonly onResult: (r: ReconcileResult | Error) => void = () => {}) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  /** One pass over all namespaces. */
  async reconcile(): Promise<ReconcileResult> {
    const result: ReconcileResult = { created: [], updated: [], failed: [] };
    const list = await this.api.listNamespace();
    for (const ns of list.items) {
      const namespace = ns.metadata?.name;
      if (!namespace || ns.status?.phase === 'Terminating') continue;
      try {
        const action = await this.ensure(namespace);
        if (action === 'created') result.created.push(namespace);
        if (action === 'updated') result.updated.push(namespace);
      } catch (err) {
        result.failed.push({ namespace, reason: (err as Error).message });
      }
    }
    return result;
  }

  /** Reconciles now and then every `periodMs`; results and errors go to `onResult`. */
  start(periodMs: number): Promise<ReconcileResult> {
    const run = () => this.reconcile().then(this.onResult, (e: Error) => this.onResult(e));
    this.timer = setInterval(run, periodMs);
    this.timer.unref();
    return this.reconcile().then((r) => (this.onResult(r), r));
  }

  /** Stops the periodic reconcile. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async ensure(namespace: string): Promise<'created' | 'updated' | 'unchanged'> {
    const { name, key } = ROOT_CERT_CONFIGMAP;
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, labels: { 'istio.io/config': 'true' } },
      data: { [key]: this.bundlePem },
    };
    let current: V1ConfigMap | null = null;
    try {
      current = await this.api.readNamespacedConfigMap({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    if (!current) {
      await this.api.createNamespacedConfigMap({ namespace, body });
      return 'created';
    }
    if (current.data?.[key] === this.bundlePem) return 'unchanged';
    body.metadata!.resourceVersion = current.metadata?.resourceVersion;
    await this.api.replaceNamespacedConfigMap({ name, namespace, body });
    return 'updated';
  }
}
