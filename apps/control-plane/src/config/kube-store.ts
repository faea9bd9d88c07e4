/**
 * The Kubernetes store: one informer per kind (`@kubernetes/client-node` list + watch), restarted
 * with backoff after errors (reconnect), and a periodic full re-list that reconciles the cache
 * (resync). Objects go through the same envelope checks as files, named
 * `kubernetes://<Kind>/<namespace>/<name>`.
 */
import * as k8s from '@kubernetes/client-node';
import { envelopeToResource, KINDS, type ConfigIssue, type ConfigResource, type Kind, type ParseResult } from '@tsmesh/mesh-config';
import { Listeners, type ChangeListener, type ConfigStore } from './store';

/** Options of {@link KubeStore}. */
export interface KubeStoreOptions {
  /** Kinds to watch (default: all tsmesh reads). */
  kinds?: readonly Kind[];
  /** Version used for Istio CRDs (default `v1`). */
  istioVersion?: string;
  /** Full re-list period (default 5 minutes; 0 disables). */
  resyncMs?: number;
  /** First reconnect delay after an informer error (doubles up to 30 s). */
  reconnectMs?: number;
  /** Called with a message when an informer fails or reconnects. */
  log?: (level: 'info' | 'warn', msg: string) => void;
}

type AnyObj = k8s.KubernetesObject & Record<string, unknown>;

/** API path (for the watch) and list function of one kind. */
export function kindEndpoints(kc: k8s.KubeConfig, kind: Kind, istioVersion = 'v1'): { path: string; apiVersion: string; list: () => Promise<k8s.KubernetesListObject<AnyObj>> } {
  const info = KINDS[kind];
  // Istio kinds at the requested version; a kind Istio serves at fewer versions (EnvoyFilter: v1alpha3) at its own.
  const version = info.istio && info.versions.includes(istioVersion) ? istioVersion : info.versions[0];
  const apiVersion = info.group ? `${info.group}/${version}` : version;
  const path = info.group ? `/apis/${info.group}/${version}/${info.plural}` : `/api/${version}/${info.plural}`;
  const core = () => kc.makeApiClient(k8s.CoreV1Api);
  const lists: Partial<Record<Kind, () => Promise<unknown>>> = {
    Service: () => core().listServiceForAllNamespaces(),
    Pod: () => core().listPodForAllNamespaces(),
    Namespace: () => core().listNamespace(),
    Secret: () => core().listSecretForAllNamespaces(),
    ServiceAccount: () => core().listServiceAccountForAllNamespaces(),
    EndpointSlice: () => kc.makeApiClient(k8s.DiscoveryV1Api).listEndpointSliceForAllNamespaces(),
    Ingress: () => kc.makeApiClient(k8s.NetworkingV1Api).listIngressForAllNamespaces(),
  };
  const list = lists[kind] ?? (() => kc.makeApiClient(k8s.CustomObjectsApi).listClusterCustomObject({ group: info.group, version, plural: info.plural }));
  return { path, apiVersion, list: list as () => Promise<k8s.KubernetesListObject<AnyObj>> };
}

/** Kubernetes informers feeding the model. */
export class KubeStore implements ConfigStore {
  readonly name = 'kubernetes';
  private readonly objects = new Map<string, ConfigResource>();
  private readonly issues = new Map<string, ConfigIssue[]>();
  private readonly listeners = new Listeners();
  private readonly informers: { kind: Kind; informer: k8s.Informer<AnyObj>; list: () => Promise<k8s.KubernetesListObject<AnyObj>>; apiVersion: string }[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly kc: k8s.KubeConfig, private readonly opts: KubeStoreOptions = {}) {}

  /**
   * Writes a Gateway API resource's status to its status subresource (JSON merge patch of
   * `status` on `…/<plural>/<name>/status`, at the version the object was read at). Removing a
   * status is not done: the resource is gone, and its status with it.
   */
  async writeStatus(r: ConfigResource, status: Record<string, unknown> | undefined): Promise<void> {
    if (!status) return;
    const info = KINDS[r.kind];
    if (!info.group) throw new Error(`${r.kind} has no status subresource tsmesh writes`);
    const version = r.apiVersion.includes('/') ? r.apiVersion.slice(r.apiVersion.indexOf('/') + 1) : info.versions[0];
    const api = this.kc.makeApiClient(k8s.CustomObjectsApi);
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const body = { status };
    if (info.namespaced) await api.patchNamespacedCustomObjectStatus({ group: info.group, version, namespace: r.namespace, plural: info.plural, name: r.name, body }, opts);
    else await api.patchClusterCustomObjectStatus({ group: info.group, version, plural: info.plural, name: r.name, body }, opts);
  }

  async start(): Promise<void> {
    const kinds = this.opts.kinds ?? (Object.keys(KINDS) as Kind[]);
    for (const kind of kinds) {
      const { path, list, apiVersion } = kindEndpoints(this.kc, kind, this.opts.istioVersion);
      const informer = k8s.makeInformer<AnyObj>(this.kc, path, list);
      const entry = { kind, informer, list, apiVersion };
      informer.on('add', (o) => this.upsert(kind, apiVersion, o));
      informer.on('update', (o) => this.upsert(kind, apiVersion, o));
      informer.on('delete', (o) => this.remove(kind, o));
      let delay = this.opts.reconnectMs ?? 1000;
      informer.on('error', (err) => {
        if (this.stopped) return;
        this.opts.log?.('warn', `kubernetes informer for ${kind} failed (${(err as Error)?.message ?? err}); reconnecting in ${delay} ms`);
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          if (this.stopped) return;
          informer.start().then(() => this.opts.log?.('info', `kubernetes informer for ${kind} reconnected`)).catch(() => {});
        }, delay);
        this.retryTimers.add(t);
        delay = Math.min(delay * 2, 30_000);
      });
      informer.on('connect', () => { delay = this.opts.reconnectMs ?? 1000; });
      this.informers.push(entry);
    }
    await Promise.all(this.informers.map((i) => i.informer.start()));
    const resync = this.opts.resyncMs ?? 300_000;
    if (resync > 0) this.resyncTimer = setInterval(() => void this.resync(), resync);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all(this.informers.map((i) => i.informer.stop().catch(() => {})));
  }

  list(): ConfigResource[] {
    return [...this.objects.values()];
  }

  readIssues(): ConfigIssue[] {
    return [...this.issues.values()].flat();
  }

  onChange(listener: ChangeListener): () => void {
    return this.listeners.add(listener);
  }

  /** Lists every kind again and reconciles: adds, updates and deletes what the watches missed. */
  async resync(): Promise<void> {
    for (const { kind, list, apiVersion } of this.informers) {
      let items: AnyObj[];
      try {
        items = (await list()).items;
      } catch (err) {
        this.opts.log?.('warn', `kubernetes resync of ${kind} failed: ${(err as Error).message}`);
        continue;
      }
      const changed = new Set<string>();
      const seen = new Set<string>();
      for (const o of items) {
        const key = this.toResource(kind, apiVersion, o, false);
        if (key) {
          seen.add(key.key);
          if (key.changed) changed.add(key.key);
        }
      }
      for (const [k, r] of this.objects) {
        if (r.kind === kind && !seen.has(k)) {
          this.objects.delete(k);
          changed.add(k);
        }
      }
      if (changed.size) this.listeners.emit(changed);
    }
  }

  private toResource(kind: Kind, apiVersion: string, o: AnyObj, emit: boolean): { key: string; changed: boolean } | undefined {
    // List items carry no apiVersion/kind; watch events do.
    const plain = JSON.parse(JSON.stringify({ ...o, apiVersion: o.apiVersion ?? apiVersion, kind: o.kind ?? kind })) as Record<string, unknown>;
    const ns = (o.metadata?.namespace as string | undefined) ?? '';
    const file = `kubernetes://${kind}/${ns ? `${ns}/` : ''}${o.metadata?.name ?? ''}`;
    const out: ParseResult = { resources: [], issues: [], ignored: [] };
    const r = envelopeToResource(plain, { file }, out);
    const issueKey = `${kind}/${ns}/${o.metadata?.name ?? ''}`;
    const hadIssues = this.issues.has(issueKey);
    if (out.issues.length) this.issues.set(issueKey, out.issues);
    else this.issues.delete(issueKey);
    if (!r) {
      if (emit && (out.issues.length || hadIssues)) this.listeners.emit(new Set());
      return undefined;
    }
    const prev = this.objects.get(r.key);
    const changed = !prev || JSON.stringify(prev.object) !== JSON.stringify(r.object);
    if (changed) this.objects.set(r.key, r);
    if (emit && (changed || hadIssues)) this.listeners.emit(new Set(changed ? [r.key] : []));
    return { key: r.key, changed };
  }

  private upsert(kind: Kind, apiVersion: string, o: AnyObj): void {
    this.toResource(kind, apiVersion, o, true);
  }

  private remove(kind: Kind, o: AnyObj): void {
    const ns = o.metadata?.namespace ?? '';
    const key = `${kind}/${KINDS[kind].namespaced ? ns || 'default' : ''}/${o.metadata?.name}`;
    this.issues.delete(`${kind}/${ns}/${o.metadata?.name ?? ''}`);
    if (this.objects.delete(key)) this.listeners.emit(new Set([key]));
  }
}
