/**
 * ClusterIP allocation, as the API server's Service registry does it on create: a Service gets a
 * VIP from the run's service block (kept across updates, released on delete); a headless Service
 * (`clusterIP: None`) gets none.
 */
import type { IpPool } from './ipam';
import { keyOf, type ServiceObject } from './kube';

/** Allocates and remembers Service VIPs. */
export class ClusterIpAllocator {
  private readonly vips = new Map<string, string>();

  constructor(private readonly pool: IpPool) {}

  /** Sets `spec.clusterIP` / `clusterIPs` of a Service being created or updated. */
  assign(s: ServiceObject): void {
    const key = keyOf(s);
    if (s.spec.clusterIP === 'None') {
      s.spec.clusterIPs = ['None'];
      return;
    }
    let vip = this.vips.get(key);
    if (!vip) {
      vip = this.pool.allocate();
      this.vips.set(key, vip);
    }
    s.spec.clusterIP = vip;
    s.spec.clusterIPs = [vip];
  }

  /** Frees a deleted Service's VIP. */
  release(key: string): void {
    const vip = this.vips.get(key);
    if (vip) this.pool.release(vip);
    this.vips.delete(key);
  }

  /** The VIP of `namespace/name`. */
  get(key: string): string | undefined {
    return this.vips.get(key);
  }

  /** Every Service with a VIP. */
  entries(): [string, string][] {
    return [...this.vips];
  }
}
