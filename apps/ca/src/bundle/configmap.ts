/**
 * Trust bundle on Kubernetes: the ConfigMap `istio-ca-root-cert` (key `root-cert.pem`) in every
 * namespace, as Istio publishes it. Reconciled at start, for each namespace as soon as a watch
 * (informer) sees it added, and every resync period, so edited or deleted copies are put back.
 */
import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type V1ConfigMap, type V1Namespace } from '@kubernetes/client-node';
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
  private informer: Informer<V1Namespace> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly kc: KubeConfig, private readonly bundlePem: string, private readonly onResult: (r: ReconcileResult | Error) => void = () => {}) {
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

  /**
   * Reconciles now, then watches namespaces (a new one gets its ConfigMap at once) and reconciles
   * every `periodMs`; results and errors go to `onResult`. Resolves after the first pass.
   */
  async start(periodMs: number): Promise<ReconcileResult> {
    const run = () => this.reconcile().then(this.onResult, (e: Error) => this.onResult(e));
    this.timer = setInterval(run, periodMs);
    this.timer.unref();
    const first = await this.reconcile();
    this.onResult(first);
    this.watchNamespaces();
    return first;
  }

  /** Stops the watch and the periodic reconcile. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    void this.informer?.stop();
  }

  private watchNamespaces(): void {
    const informer = makeInformer<V1Namespace>(this.kc, '/api/v1/namespaces', () => this.api.listNamespace());
    informer.on('add', (ns) => {
      const namespace = ns.metadata?.name;
      if (!namespace || ns.status?.phase === 'Terminating') return;
      this.ensure(namespace).then(
        (action) => action !== 'unchanged' && this.onResult({ created: action === 'created' ? [namespace] : [], updated: action === 'updated' ? [namespace] : [], failed: [] }),
        (err: Error) => this.onResult({ created: [], updated: [], failed: [{ namespace, reason: err.message }] }),
      );
    });
    // An informer stops on error; start it again after a pause (the periodic pass covers the gap).
    informer.on('error', (err: unknown) => {
      this.onResult(err instanceof Error ? err : new Error(String(err)));
      if (this.stopped) return;
      this.restartTimer = setTimeout(() => void informer.start().catch(() => {}), 5000);
      this.restartTimer.unref();
    });
    this.informer = informer;
    informer.start().catch((err: Error) => this.onResult(err));
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
