import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';

/** The part of a MutatingWebhookConfiguration the patcher reads. */
export interface WebhookConfiguration {
  webhooks?: { name: string; clientConfig: { caBundle?: string } }[];
}

/** Reads and JSON-patches MutatingWebhookConfigurations (the Kubernetes API, or a fake in tests). */
export interface WebhookConfigApi {
  read(name: string): Promise<WebhookConfiguration>;
  patch(name: string, ops: { op: 'add' | 'replace'; path: string; value: string }[]): Promise<void>;
}

/**
 * Keeps `webhooks[*].clientConfig.caBundle` of a MutatingWebhookConfiguration equal to the CA
 * certificate that signed the injector's serving certificate (as istiod does for its webhook), so the
 * API server trusts the webhook after every rotation and after the manifests are re-applied.
 */
export class CaBundlePatcher {
  /** The last sync failed (the configuration does not exist yet, the API refused, the CA file is missing). */
  failing = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly api: WebhookConfigApi,
    private readonly name: string,
    private readonly caFile: string,
    private readonly log: Logger,
  ) {}

  /**
   * Syncs now and keeps syncing: every `intervalMs` (re-applied manifests reset the caBundle), and,
   * after a failure, again after `retryMs`, doubling up to `maxRetryMs` — the webhook configuration is
   * often created after the injector starts, and pods wait on it (`failurePolicy: Fail`).
   */
  start(o: { intervalMs?: number; retryMs?: number; maxRetryMs?: number } = {}): void {
    const interval = o.intervalMs ?? 60_000;
    const first = o.retryMs ?? 1000;
    const max = o.maxRetryMs ?? 30_000;
    let retry = first;
    const tick = async () => {
      await this.sync();
      if (this.timer === undefined) return; // stopped
      const wait = this.failing ? retry : interval;
      retry = this.failing ? Math.min(retry * 2, max) : first;
      this.timer = setTimeout(() => void tick(), wait);
      this.timer.unref();
    };
    this.timer = setTimeout(() => void tick(), 0);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Patches the webhooks whose caBundle differs; returns how many were patched. Errors are logged, not thrown. */
  async sync(): Promise<number> {
    try {
      const bundle = Buffer.from(readFileSync(this.caFile, 'utf8')).toString('base64');
      const config = await this.api.read(this.name);
      const ops = (config.webhooks ?? []).flatMap((w, i) =>
        w.clientConfig.caBundle === bundle
          ? []
          : [{ op: w.clientConfig.caBundle === undefined ? ('add' as const) : ('replace' as const), path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }],
      );
      if (ops.length > 0) {
        await this.api.patch(this.name, ops);
        this.log.info({ webhookConfiguration: this.name, webhooks: ops.length }, 'caBundle updated');
      }
      this.failing = false;
      return ops.length;
    } catch (err) {
      this.failing = true;
      this.log.warn({ webhookConfiguration: this.name, caFile: this.caFile, err: (err as Error).message }, 'could not update the webhook caBundle');
      return 0;
    }
  }
}

/** The Kubernetes API behind {@link WebhookConfigApi} (in-cluster, then KUBECONFIG). */
export async function kubeWebhookConfigApi(kubeConfig?: KubeConfig): Promise<WebhookConfigApi> {
  const k8s = await import('@kubernetes/client-node');
  const kc = kubeConfig ?? new k8s.KubeConfig();
  if (!kubeConfig) kc.loadFromDefault();
  const api = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  return {
    read: async (name) => (await api.readMutatingWebhookConfiguration({ name })) as WebhookConfiguration,
    patch: async (name, ops) => {
      await api.patchMutatingWebhookConfiguration({ name, body: ops }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch));
    },
  };
}
