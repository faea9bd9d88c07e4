/**
 * The control plane's input: a watch of the object store that mirrors the kinds the control plane
 * reads (Services, EndpointSlices, Pods with status, Namespaces, Secrets, ConfigMaps,
 * ServiceAccounts, Ingresses and every `*.istio.io` resource) as YAML files in its
 * `--config-dir` — `<kind>/<namespace>.<name>.yaml` (`_cluster` for cluster-scoped kinds), each
 * written to a hidden temporary file and renamed, so the control plane never reads half a file.
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { storeKind } from './gateway-deployer';
import type { KubeObject } from './kube';
import type { ObjectStore, WatchEvent } from './store';

/** Kinds written to the control plane's file store. */
const CONFIG_KINDS = new Set(['Service', 'EndpointSlice', 'Pod', 'Namespace', 'Secret', 'ServiceAccount', 'ConfigMap', 'Ingress', 'IngressClass']);
const CONFIG_GROUPS = ['networking.istio.io/', 'security.istio.io/', 'telemetry.istio.io/', 'gateway.networking.k8s.io/'];

/** True when the control plane reads objects like `o`. */
export function isConfigObject(o: KubeObject): boolean {
  return CONFIG_KINDS.has(o.kind) || CONFIG_GROUPS.some((g) => o.apiVersion.startsWith(g));
}

/** Mirrors the store's config objects into a directory. */
export class ConfigWriter {
  private chain: Promise<void> = Promise.resolve();
  private readonly cancel: () => void;
  private stopped = false;

  constructor(store: ObjectStore, readonly dir: string, private readonly log: (line: string) => void) {
    this.cancel = store.watch('*', (e) => this.onEvent(e));
  }

  /** The file of an object. */
  pathOf(o: KubeObject): string {
    return join(this.dir, storeKind(o).toLowerCase(), `${o.metadata.namespace ?? '_cluster'}.${o.metadata.name}.yaml`);
  }

  /** Resolves once every change seen so far is on disk. */
  async flush(): Promise<void> {
    await this.chain;
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }

  private onEvent(e: WatchEvent): Promise<void> | undefined {
    if (this.stopped || !isConfigObject(e.object)) return undefined;
    // Serialised in event order; the object is copied now, as it stood at this version.
    const o = e.type === 'DELETED' ? e.object : structuredClone(e.object);
    const path = this.pathOf(o);
    this.chain = this.chain
      .then(() => (e.type === 'DELETED' ? rm(path, { force: true }) : this.write(path, o)))
      .catch((err: Error) => this.log(`config ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${err.message}`));
    return this.chain;
  }

  private async write(path: string, o: KubeObject): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    // The control plane (UID 1337) writes Gateway API status files beside these resources: their
    // directories are writable by it, sticky so it cannot remove the runtime's files.
    if (o.apiVersion.startsWith('gateway.networking.k8s.io/')) await chmod(dirname(path), 0o1777);
    const tmp = join(dirname(path), `.${o.metadata.name}.${process.pid}.${randomUUID()}.tmp`);
    await writeFile(tmp, stringify(o, { lineWidth: 0 }), { mode: 0o644 });
    await rename(tmp, path);
  }
}
