/** All runtime clusters by name; applies CDS and EDS updates in place. */
import type { ClusterSpec, EndpointSet } from '../config/cluster';
import { UpstreamCluster } from './cluster';

/** The cluster manager. */
export class ClusterManager {
  private readonly clusters = new Map<string, UpstreamCluster>();
  /** Latest endpoints by EDS service name (kept even before their cluster arrives). */
  private readonly endpoints = new Map<string, EndpointSet>();

  /** The cluster named `name`, if any. */
  get(name: string): UpstreamCluster | undefined {
    return this.clusters.get(name);
  }

  /** All clusters. */
  all(): IterableIterator<UpstreamCluster> {
    return this.clusters.values();
  }

  /** Applies a full CDS state: adds, updates (in place) and removes clusters. */
  applyClusters(specs: ReadonlyMap<string, ClusterSpec>): void {
    for (const [name, spec] of specs) {
      const cur = this.clusters.get(name);
      if (cur) {
        if (cur.spec !== spec) cur.update(spec);
      } else {
        const c = new UpstreamCluster(spec);
        this.clusters.set(name, c);
        if (spec.type === 'EDS') {
          const eps = this.endpoints.get(spec.edsServiceName);
          if (eps) c.setEndpoints(eps);
        }
      }
    }
    for (const [name, c] of this.clusters) {
      if (!specs.has(name)) {
        this.clusters.delete(name);
        // let in-flight requests finish on their pools before closing them
        setTimeout(closeCluster, 5000, c).unref();
      }
    }
  }

  /** Applies a full EDS state (service name → endpoints). */
  applyEndpoints(sets: ReadonlyMap<string, EndpointSet>): void {
    this.endpoints.clear();
    for (const [k, v] of sets) this.endpoints.set(k, v);
    for (const c of this.clusters.values()) {
      if (c.spec.type !== 'EDS') continue;
      const eps = sets.get(c.spec.edsServiceName);
      if (eps && eps.version !== c.endpointsVersion) c.setEndpoints(eps);
      else if (!eps && c.warmed) c.setEndpoints({ version: '', priorities: [] });
    }
  }

  /** EDS service names the current clusters need. */
  edsNames(): string[] {
    const out = new Set<string>();
    for (const c of this.clusters.values()) if (c.spec.type === 'EDS') out.add(c.spec.edsServiceName);
    return [...out].sort();
  }

  /** Closes every cluster. */
  close(): void {
    for (const c of this.clusters.values()) c.close();
    this.clusters.clear();
  }
}

function closeCluster(c: UpstreamCluster): void {
  c.close();
}
