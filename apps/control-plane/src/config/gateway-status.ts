/**
 * Writes Gateway API status back, as Istio's gateway controller (`istio.io/gateway-controller`)
 * does: after every rebuild the status of each Gateway API resource of ours (libs/mesh-config
 * `gatewayApiStatus`, in the API's shape by `kubernetesStatus`) goes to the store that holds the
 * resource — the status subresource in Kubernetes, a status file beside the config file — but only
 * when it differs from what was last written (transition times are kept while a condition's status
 * stays). A resource that disappears has its status file entry removed. A failed write is logged
 * and tried again on the next rebuild.
 */
import { gatewayApiStatus, kubernetesStatus, KINDS, statusFingerprint, type ConfigResource, type KubeStatus } from '@tsmesh/mesh-config';
import type { ConfigStore } from './store';

/** Keeps the written statuses in line with the served config. */
export class GatewayStatusWriter {
  private readonly written = new Map<string, { r: ConfigResource; store: ConfigStore; status: KubeStatus; fingerprint: string }>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly stores: readonly ConfigStore[], private readonly log: (msg: string, err?: unknown) => void = () => undefined, private readonly now = () => new Date().toISOString()) {}

  /** Computes the status of `resources` (the served set) and writes what changed; resolves when written. */
  update(resources: readonly ConfigResource[]): Promise<void> {
    const writers = this.stores.filter((s) => s.writeStatus);
    if (!writers.length) return this.chain;
    const gatewayApi = resources.some((r) => KINDS[r.kind]?.gatewayApi);
    if (!gatewayApi && !this.written.size) return this.chain;
    const status = gatewayApi ? gatewayApiStatus(resources) : new Map();
    const byKey = new Map(resources.map((r) => [r.key, r]));
    // Which store holds each resource (the first one listing its key).
    const owner = new Map<string, ConfigStore>();
    for (const s of writers) for (const r of s.list()) if (status.has(r.key) && !owner.has(r.key)) owner.set(r.key, s);
    const work: (() => Promise<void>)[] = [];
    for (const [key, s] of status) {
      const r = byKey.get(key);
      const store = owner.get(key);
      if (!r || !store) continue;
      const before = this.written.get(key);
      const next = kubernetesStatus(r, s, before?.status ?? ((r.object as { status?: KubeStatus }).status), this.now());
      const fingerprint = statusFingerprint(next);
      if (before && before.fingerprint === fingerprint && before.store === store && before.r.source.file === r.source.file) continue;
      this.written.set(key, { r, store, status: next, fingerprint });
      work.push(() => store.writeStatus!(r, next).catch((err: unknown) => {
        this.written.delete(key);
        this.log(`writing the status of ${key} failed`, err);
      }));
    }
    for (const [key, w] of this.written) {
      if (status.has(key) && owner.get(key) === w.store) continue;
      this.written.delete(key);
      work.push(() => w.store.writeStatus!(w.r, undefined).catch((err: unknown) => this.log(`removing the status of ${key} failed`, err)));
    }
    if (!work.length) return this.chain;
    this.chain = this.chain.then(async () => { for (const w of work) await w(); });
    return this.chain;
  }
}
