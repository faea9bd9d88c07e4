/**
 * The Gateway API deployment controller of the local runtime, as Istio's gateway controller works
 * on a cluster: a Gateway of class `istio` with no `spec.addresses` gets the ServiceAccount,
 * Deployment (tsmesh's proxy in router mode) and Service (its listeners' ports) of
 * `@tsmesh/mesh-config`'s `gatewayDeployment`, owned by the Gateway; they follow its listeners and
 * are deleted with it (what the garbage collector does for `ownerReferences` on a cluster). A
 * Gateway with addresses (manual deployment) gets none, and loses what it had.
 */
import { gatewayDeployment, isAutomatedGateway, type GatewayClassObject, type KubernetesGatewayObject } from '@tsmesh/mesh-config';
import { keyOf, type KubeObject } from './kube';

/** The kind key the runtime stores Gateway API Gateways under (`Gateway` is Istio's). */
export const GATEWAY_API_GATEWAY = 'Gateway.gateway.networking.k8s.io';
const GROUP = 'gateway.networking.k8s.io/';

/** The store kind of an object: Gateway API's Gateway apart from Istio's. */
export function storeKind(o: Pick<KubeObject, 'kind' | 'apiVersion'>): string {
  return o.kind === 'Gateway' && o.apiVersion?.startsWith(GROUP) ? GATEWAY_API_GATEWAY : o.kind;
}

/** Whether `o` is a Gateway API Gateway or GatewayClass. */
export const isGatewayApi = (o: Pick<KubeObject, 'kind' | 'apiVersion'>) => !!o.apiVersion?.startsWith(GROUP) && (o.kind === 'Gateway' || o.kind === 'GatewayClass');

/** What the controller needs from the runtime. */
export interface GatewayDeployerDeps {
  apply(objects: KubeObject[]): Promise<{ kind: string; key: string; reason: string }[]>;
  delete(kind: string, key: string): Promise<void>;
  list(kind: string): KubeObject[];
  log(line: string): void;
}

const OWNED_KINDS = ['Deployment', 'Service', 'ServiceAccount'];

/** Deploys and removes the workloads of Gateway API Gateways. */
export class GatewayDeployer {
  constructor(private readonly deps: GatewayDeployerDeps) {}

  /** Objects owned by the Gateway with `uid`. */
  owned(uid: string | undefined): KubeObject[] {
    if (!uid) return [];
    return OWNED_KINDS.flatMap((k) => this.deps.list(k).filter((o) => o.metadata.ownerReferences?.some((r) => r.kind === 'Gateway' && r.uid === uid)));
  }

  /** Brings a Gateway's deployment in line with its spec (after a create or update). */
  async reconcile(gw: KubeObject): Promise<void> {
    const classes = this.deps.list('GatewayClass') as unknown as GatewayClassObject[];
    const g = gw as unknown as KubernetesGatewayObject;
    if (!isAutomatedGateway(g, classes)) {
      await this.remove(gw);
      return;
    }
    let want: KubeObject[];
    try {
      want = gatewayDeployment(g) as unknown as KubeObject[];
    } catch (err) {
      this.deps.log(`Gateway ${keyOf(gw)}: not deployed: ${(err as Error).message}`);
      return;
    }
    const refused = await this.deps.apply(want);
    for (const r of refused) this.deps.log(`Gateway ${keyOf(gw)}: could not deploy ${r.kind} ${r.key}: ${r.reason}`);
    if (!refused.length) this.deps.log(`Gateway ${keyOf(gw)}: deployed ${want.map((o) => `${o.kind} ${keyOf(o)}`).join(', ')}`);
  }

  /** Every Gateway of a class again (a GatewayClass appeared or changed). */
  async reconcileClass(className: string): Promise<void> {
    for (const gw of this.deps.list(GATEWAY_API_GATEWAY)) if ((gw.spec as { gatewayClassName?: string }).gatewayClassName === className) await this.reconcile(gw);
  }

  /** Deletes what the Gateway owns (the Gateway was deleted, or now binds to an existing deployment). */
  async remove(gw: KubeObject): Promise<void> {
    const owned = this.owned(gw.metadata.uid);
    for (const o of owned) await this.deps.delete(o.kind, keyOf(o));
    if (owned.length) this.deps.log(`Gateway ${keyOf(gw)}: removed ${owned.map((o) => `${o.kind} ${keyOf(o)}`).join(', ')}`);
  }
}
