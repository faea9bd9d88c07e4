/**
 * Cluster DNS: watches Services and EndpointSlices and keeps every pod sandbox's hosts file
 * answering the cluster's names (`dns.ts`: Services by VIP, a headless Service by its ready
 * endpoints, per-pod names by EndpointSlice hostname), rewritten when they change.
 */
import { Coalesced } from './coalesce';
import { hostsFile, type DnsService, type HeadlessService } from './dns';
import type { HostNetwork, PodNetwork } from './network';
import type { ServiceObject } from './kube';
import type { ObjectStore } from './store';

/** A pod sandbox DNS serves. */
export interface DnsClient {
  name: string;
  namespace: string;
  ip: string;
  net: PodNetwork;
}

/** Keeps hosts files in step with the store. */
export class ClusterDns {
  private readonly job: Coalesced;
  private readonly cancels: (() => void)[];

  constructor(private readonly store: ObjectStore, private readonly net: HostNetwork, private readonly clients: () => DnsClient[], log: (line: string) => void) {
    this.job = new Coalesced(() => this.sync(), (err) => log(`cluster DNS: ${err.message}`));
    // The promise lets `apply` and `delete` resolve once the change has taken effect.
    const kick = () => this.job.trigger();
    this.cancels = [store.watch('Service', kick), store.watch('EndpointSlice', kick)];
  }

  /** The hosts file for one pod, as things stand. */
  hostsFor(pod: { name: string; namespace: string; ip: string }): string {
    const { services, headless } = this.records();
    return hostsFile(pod, services, headless);
  }

  /** Rewrites every sandbox's hosts file (a new pod joined, a name changed). */
  refresh(): Promise<void> {
    return this.job.trigger();
  }

  idle(): Promise<void> {
    return this.job.idle();
  }

  stop(): void {
    for (const c of this.cancels) c();
  }

  private records(): { services: DnsService[]; headless: HeadlessService[] } {
    const services: DnsService[] = [];
    const headless: HeadlessService[] = [];
    const slices = this.store.list('EndpointSlice');
    for (const s of this.store.list('Service') as ServiceObject[]) {
      const namespace = s.metadata.namespace ?? 'default';
      const name = s.metadata.name ?? '';
      if (s.spec.clusterIP && s.spec.clusterIP !== 'None') services.push({ namespace, name, vip: s.spec.clusterIP });
      else if (s.spec.clusterIP === 'None' && s.spec.selector) {
        const endpoints = slices
          .filter((x) => x.metadata.namespace === namespace && x.metadata.labels?.['kubernetes.io/service-name'] === name)
          .flatMap((x) => (x.endpoints as { addresses: string[]; hostname?: string }[]).map((e) => ({ ip: e.addresses[0], hostname: e.hostname })));
        headless.push({ namespace, name, endpoints });
      }
    }
    return { services, headless };
  }

  private async sync(): Promise<void> {
    const { services, headless } = this.records();
    for (const c of this.clients()) await this.net.updateHosts(c.net, hostsFile({ name: c.name, namespace: c.namespace, ip: c.ip }, services, headless));
  }
}
