/**
 * The EndpointSlice controller: watches Services and Pods and keeps each selector Service's
 * `discovery.k8s.io/v1` EndpointSlices (ready, not terminating pods; see `endpoints.ts`) in the
 * store, writing only the slices whose content changed and removing the ones no longer wanted.
 */
import { Coalesced } from './coalesce';
import { endpointSlicesFor, type EndpointPod } from './endpoints';
import { keyOf, type KubeObject, type PodObject, type ServiceObject } from './kube';
import type { ObjectStore } from './store';

const MANAGED_BY = 'endpointslice-controller.k8s.io';

/** True when the pod object says Ready and is not being deleted. */
export function podReady(p: KubeObject): boolean {
  const st = p.status as { conditions?: { type: string; status: string }[] } | undefined;
  return !p.metadata.deletionTimestamp && !!st?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Keeps EndpointSlices in step with Services and pod readiness. */
export class EndpointSliceController {
  private readonly job: Coalesced;
  private readonly cancels: (() => void)[];

  constructor(private readonly store: ObjectStore, log: (line: string) => void) {
    this.job = new Coalesced(async () => this.sync(), (err) => log(`EndpointSlice controller: ${err.message}`));
    // The promise lets `apply` and `delete` resolve once the change has taken effect.
    const kick = () => this.job.trigger();
    this.cancels = [store.watch('Service', kick), store.watch('Pod', kick)];
  }

  /** Resolves once the slices reflect every change seen so far. */
  idle(): Promise<void> {
    return this.job.idle();
  }

  stop(): void {
    for (const c of this.cancels) c();
  }

  private sync(): void {
    const pods: EndpointPod[] = this.store.list('Pod').flatMap((o) => {
      const ip = (o.status as { podIP?: string } | undefined)?.podIP;
      return ip ? [{ object: o as PodObject, ip, ready: podReady(o) }] : [];
    });
    const wanted = new Map<string, KubeObject>();
    for (const svc of this.store.list('Service') as ServiceObject[]) {
      if (!svc.spec.selector) continue;
      for (const s of endpointSlicesFor(svc, pods)) wanted.set(keyOf(s), s);
    }
    for (const s of this.store.list('EndpointSlice')) {
      if (!wanted.has(keyOf(s)) && s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] === MANAGED_BY) this.store.delete('EndpointSlice', keyOf(s));
    }
    for (const [k, s] of wanted) {
      const prev = this.store.get('EndpointSlice', k);
      if (prev && sameSlice(prev, s)) continue;
      this.store.put(s);
    }
  }
}

function sameSlice(a: KubeObject, b: KubeObject): boolean {
  const body = (o: KubeObject) => JSON.stringify([o.metadata.labels, o.metadata.ownerReferences, o.endpoints, o.ports, o.addressType]);
  return body(a) === body(b);
}
