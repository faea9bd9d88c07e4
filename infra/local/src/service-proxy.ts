/**
 * The service proxy (kube-proxy's job): watches Services and EndpointSlices and programs each
 * Service port's VIP as random-probability DNAT to its ready endpoints (`HostNetwork.syncServices`);
 * ports without endpoints refuse connections. Headless Services get no rules.
 */
import { Coalesced } from './coalesce';
import type { HostNetwork, ServiceRule } from './network';
import { keyOf, type ServiceObject } from './kube';
import type { ObjectStore } from './store';

/** Programs VIP rules from the store. */
export class ServiceProxy {
  private readonly job: Coalesced;
  private readonly cancels: (() => void)[];

  constructor(private readonly store: ObjectStore, private readonly net: HostNetwork, log: (line: string) => void) {
    this.job = new Coalesced(() => this.sync(), (err) => log(`service proxy: ${err.message}`));
    // The promise lets `apply` and `delete` resolve once the change has taken effect.
    const kick = () => this.job.trigger();
    this.cancels = [store.watch('Service', kick), store.watch('EndpointSlice', kick)];
  }

  /** Resolves once the rules reflect every change seen so far. */
  idle(): Promise<void> {
    return this.job.idle();
  }

  stop(): void {
    for (const c of this.cancels) c();
  }

  private async sync(): Promise<void> {
    const rules: ServiceRule[] = [];
    const slices = this.store.list('EndpointSlice');
    for (const svc of this.store.list('Service') as ServiceObject[]) {
      if (!svc.spec.clusterIP || svc.spec.clusterIP === 'None') continue;
      const mine = slices.filter((s) => s.metadata.namespace === svc.metadata.namespace && s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name);
      for (const sp of svc.spec.ports ?? []) {
        const endpoints: { ip: string; port: number }[] = [];
        for (const s of mine) {
          const port = (s.ports as { name: string; port: number }[]).find((p) => p.name === (sp.name ?? ''));
          if (!port) continue;
          for (const e of s.endpoints as { addresses: string[] }[]) endpoints.push({ ip: e.addresses[0], port: port.port });
        }
        rules.push({ key: `${keyOf(svc)}:${sp.port}`, vip: svc.spec.clusterIP, port: sp.port, protocol: (sp.protocol ?? 'TCP') as 'TCP', endpoints });
      }
    }
    await this.net.syncServices(rules);
  }
}
