/**
 * Automated deployment of Gateway API Gateways on Kubernetes, as Istio's gateway deployment
 * controller does it: after every rebuild, each Gateway read from Kubernetes of a class of ours
 * (`istio`, or one whose controller is `istio.io/gateway-controller`) with no `spec.addresses`
 * gets the ServiceAccount, Deployment and Service `@tsmesh/mesh-config`'s `gatewayDeployment`
 * renders (the same objects the local runtime deploys), server-side applied under the field
 * manager {@link GATEWAY_FIELD_MANAGER} and owned by the Gateway, so that Kubernetes' garbage
 * collector removes them with it. A changed Gateway (listeners, annotations, infrastructure) is
 * applied again; a Gateway that now binds to an existing deployment (`spec.addresses`) or left our
 * class has the objects it owned deleted (only those whose controller owner is that Gateway).
 * What was applied is remembered per Gateway, so an unchanged Gateway costs no API call until the
 * periodic re-apply (which restores objects edited or deleted by hand); a failed call is logged
 * and retried.
 */
import * as k8s from '@kubernetes/client-node';
import {
  gatewayDeployment, isAutomatedGateway, deployedName,
  type ConfigResource, type DeployedObject, type GatewayClassObject, type GatewayDeploymentOptions, type KubernetesGatewayObject,
} from '@tsmesh/mesh-config';

/** The field manager of the applied objects (Istio's gateway controller's). */
export const GATEWAY_FIELD_MANAGER = 'istio.io/gateway-controller';

/** The kinds a Gateway's deployment is made of, in the order they are applied. */
export const DEPLOYED_KINDS = ['ServiceAccount', 'Deployment', 'Service'] as const;
type DeployedKind = (typeof DEPLOYED_KINDS)[number];

/** Owner and identity of an existing object. */
export interface ObjectOwners { uid?: string; ownerReferences?: { uid: string; controller?: boolean }[] }

/** The Kubernetes calls the controller makes. */
export interface GatewayDeploymentClient {
  /** Server-side apply of `o` (forced: the controller owns these fields). */
  apply(o: DeployedObject, fieldManager: string): Promise<void>;
  /** The object's uid and owners, or undefined when there is none. */
  read(kind: DeployedKind, namespace: string, name: string): Promise<ObjectOwners | undefined>;
  /** Deletes the object if it still has `uid` (a precondition). */
  delete(kind: DeployedKind, namespace: string, name: string, uid: string): Promise<void>;
}

/** Options of {@link GatewayDeploymentController}. */
export interface GatewayDeploymentControllerOptions extends GatewayDeploymentOptions {
  /** Delay before a failed Gateway is tried again (ms, default 5000; 0 = only on the next rebuild). */
  retryMs?: number;
  /**
   * Period of a full re-apply (ms, default 300000; 0 = never), which restores objects edited or
   * deleted behind the controller's back (an unchanged apply changes nothing on the server).
   */
  reapplyMs?: number;
}

/** True for a resource the Kubernetes store read (the only ones deployed on a cluster). */
export const fromKubernetes = (r: ConfigResource) => r.source.file.startsWith('kubernetes://');

/** Deploys the Gateways of a served config set on Kubernetes. */
export class GatewayDeploymentController {
  /** Per Gateway key: what was last done for it (a fingerprint of the applied objects, or of "none"). */
  private readonly done = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();
  private retryTimer?: NodeJS.Timeout;
  private reapplyTimer?: NodeJS.Timeout;
  private last: readonly ConfigResource[] = [];

  constructor(
    private readonly client: GatewayDeploymentClient,
    private readonly opts: GatewayDeploymentControllerOptions = {},
    private readonly log: (msg: string, err?: unknown) => void = () => undefined,
    private readonly owns: (r: ConfigResource) => boolean = fromKubernetes,
  ) {}

  /** Brings the deployments in line with the Gateways of `resources` (the served set); resolves when done. */
  update(resources: readonly ConfigResource[]): Promise<void> {
    this.last = resources;
    const reapply = this.opts.reapplyMs ?? 300_000;
    if (reapply > 0 && !this.reapplyTimer) {
      this.reapplyTimer = setInterval(() => this.reapply(), reapply);
      this.reapplyTimer.unref();
    }
    const classes = resources.filter((r) => r.kind === 'GatewayClass').map((r) => r.object as GatewayClassObject);
    const seen = new Set<string>();
    const work: (() => Promise<void>)[] = [];
    for (const r of resources) {
      if (r.kind !== 'KubernetesGateway' || !this.owns(r)) continue;
      seen.add(r.key);
      const gw = r.object as KubernetesGatewayObject;
      if (isAutomatedGateway(gw, classes)) {
        let objects: DeployedObject[];
        try {
          objects = gatewayDeployment(gw, this.opts);
        } catch (err) {
          const state = `refused:${(err as Error).message}`;
          if (this.done.get(r.key) !== state) this.log(`Gateway ${r.namespace}/${r.name} is not deployed: ${(err as Error).message}`);
          this.done.set(r.key, state);
          continue;
        }
        const state = `apply:${JSON.stringify(objects)}`;
        if (this.done.get(r.key) === state) continue;
        this.done.set(r.key, state);
        work.push(() => this.applyAll(r, objects));
      } else {
        // Manual deployment (spec.addresses) or another class: what this Gateway owned goes.
        const state = `none:${gw.metadata?.uid ?? ''}:${JSON.stringify(gw.spec)}:${JSON.stringify(classes.map((c) => [c.metadata?.name, c.spec?.controllerName]))}`;
        if (this.done.get(r.key) === state) continue;
        this.done.set(r.key, state);
        work.push(() => this.removeOwned(r, gw.metadata?.uid));
      }
    }
    // A Gateway that is gone: the garbage collector deletes what it owned (ownerReferences).
    for (const key of this.done.keys()) if (!seen.has(key)) this.done.delete(key);
    if (!work.length) return this.chain;
    this.chain = this.chain.then(async () => { for (const w of work) await w(); });
    return this.chain;
  }

  /** Applies every deployed Gateway again (and checks the manual ones), as after a restart. */
  reapply(): Promise<void> {
    this.done.clear();
    return this.update(this.last);
  }

  /** Stops the timers. */
  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.reapplyTimer) clearInterval(this.reapplyTimer);
    this.retryTimer = this.reapplyTimer = undefined;
  }

  private async applyAll(r: ConfigResource, objects: readonly DeployedObject[]): Promise<void> {
    try {
      for (const o of objects) await this.client.apply(o, GATEWAY_FIELD_MANAGER);
    } catch (err) {
      this.failed(r, `deploying Gateway ${r.namespace}/${r.name} failed`, err);
    }
  }

  private async removeOwned(r: ConfigResource, uid: string | undefined): Promise<void> {
    if (!uid) return;
    const name = deployedName(r.name);
    try {
      for (const kind of [...DEPLOYED_KINDS].reverse()) {
        const o = await this.client.read(kind, r.namespace, name);
        // Only what this Gateway controls: a same-named object someone else made stays.
        if (!o?.uid || !o.ownerReferences?.some((ref) => ref.uid === uid && ref.controller)) continue;
        await this.client.delete(kind, r.namespace, name, o.uid);
        this.log(`Gateway ${r.namespace}/${r.name} binds to an existing deployment or is not ours: deleted ${kind} ${r.namespace}/${name}`);
      }
    } catch (err) {
      this.failed(r, `removing the deployment of Gateway ${r.namespace}/${r.name} failed`, err);
    }
  }

  private failed(r: ConfigResource, msg: string, err: unknown): void {
    this.done.delete(r.key);
    this.log(msg, err);
    const retry = this.opts.retryMs ?? 5000;
    if (retry > 0 && !this.retryTimer) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.update(this.last);
      }, retry);
      this.retryTimer.unref();
    }
  }
}

/** {@link GatewayDeploymentClient} over `@kubernetes/client-node` (typed core/apps clients). */
export class KubeDeploymentClient implements GatewayDeploymentClient {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.apps = kc.makeApiClient(k8s.AppsV1Api);
  }

  async apply(o: DeployedObject, fieldManager: string): Promise<void> {
    // Server-side apply: PATCH with application/apply-patch+yaml (JSON is YAML), forced.
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
    const p = { name: o.metadata.name, namespace: o.metadata.namespace, body: o, fieldManager, force: true };
    switch (o.kind as DeployedKind) {
      case 'ServiceAccount': await this.core.patchNamespacedServiceAccount(p, opts); return;
      case 'Deployment': await this.apps.patchNamespacedDeployment(p, opts); return;
      case 'Service': await this.core.patchNamespacedService(p, opts); return;
      default: throw new Error(`${o.kind} is not a kind a Gateway's deployment has`);
    }
  }

  async read(kind: DeployedKind, namespace: string, name: string): Promise<ObjectOwners | undefined> {
    const p = { name, namespace };
    try {
      const o = kind === 'ServiceAccount' ? await this.core.readNamespacedServiceAccount(p)
        : kind === 'Deployment' ? await this.apps.readNamespacedDeployment(p) : await this.core.readNamespacedService(p);
      return { uid: o.metadata?.uid, ownerReferences: o.metadata?.ownerReferences };
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  async delete(kind: DeployedKind, namespace: string, name: string, uid: string): Promise<void> {
    const p = { name, namespace, body: { preconditions: { uid }, propagationPolicy: 'Background' } };
    try {
      if (kind === 'ServiceAccount') await this.core.deleteNamespacedServiceAccount(p);
      else if (kind === 'Deployment') await this.apps.deleteNamespacedDeployment(p);
      else await this.core.deleteNamespacedService(p);
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }
}
