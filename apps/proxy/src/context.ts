/** What the data path shares: clusters, route tables, stats, drain state. */
import type { ClusterManager } from './cluster/manager';
import type { RouteTable } from './config/route';
import type { Stats } from './stats';
import type { TelemetryDeps } from './telemetry/layer';

/** Per-connection facts recorded when a connection is accepted. */
export interface ConnInfo {
  listener: string;
  /** Destination as the client meant it (original destination when captured). */
  dstIp: string;
  dstPort: number;
  srcIp: string;
  srcPort: number;
}

/** Key under which a socket carries its {@link ConnInfo}. */
export const kConnInfo = Symbol('tsmesh.connInfo');

/** Shared state of the data path. */
export interface ProxyContext {
  readonly clusters: ClusterManager;
  /** Route tables by RDS name. */
  readonly routes: ReadonlyMap<string, RouteTable>;
  readonly stats: Stats;
  /** Requests in flight, all listeners. */
  activeRequests: number;
  draining: boolean;
  /** Istio metrics, traces and access log (absent: no telemetry layer). */
  telemetry?: TelemetryDeps | null;
}
