/** Builders for `envoy.config.route.v3.RouteConfiguration`, virtual hosts and routes. */
import type { Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost } from '../types';
import { duration } from './common';

/** A route configuration (`RouteConfiguration`), served over RDS. */
export function routeConfiguration(name: string, virtualHosts: VirtualHost[], opts: { validateClusters?: boolean } = {}): RouteConfiguration {
  const rc: RouteConfiguration = { name, virtual_hosts: virtualHosts };
  if (opts.validateClusters !== undefined) rc.validate_clusters = { value: opts.validateClusters };
  return rc;
}

/** A virtual host matching `domains` (exact names, `*.suffix`, `prefix*`, or `*`). */
export function virtualHost(name: string, domains: string[], routes: Route[]): VirtualHost {
  return { name, domains, routes };
}

/** A weighted destination of a route (`WeightedCluster.ClusterWeight`). */
export interface WeightedDestination {
  cluster: string;
  weight: number;
}

/** Options for {@link route}. */
export interface RouteOptions {
  name?: string;
  match?: RouteMatch;
  /** One cluster, or weighted clusters (Envoy's `weighted_clusters`). */
  cluster?: string;
  weightedClusters?: WeightedDestination[];
  timeoutMs?: number;
  prefixRewrite?: string;
  hostRewrite?: string;
  retry?: { retryOn: string; numRetries: number; perTryTimeoutMs?: number };
  extra?: Partial<RouteAction>;
}

/** A route with a `RouteAction` to one cluster or to weighted clusters. */
export function route(o: RouteOptions): Route {
  const action: RouteAction = { ...(o.extra ?? {}) };
  if (o.weightedClusters) {
    action.weighted_clusters = { clusters: o.weightedClusters.map((w) => ({ name: w.cluster, weight: { value: w.weight } })) };
  } else if (o.cluster) {
    action.cluster = o.cluster;
  } else {
    throw new TypeError(`route ${o.name ?? ''}: needs cluster or weightedClusters`);
  }
  if (o.timeoutMs !== undefined) action.timeout = duration(o.timeoutMs);
  if (o.prefixRewrite !== undefined) action.prefix_rewrite = o.prefixRewrite;
  if (o.hostRewrite !== undefined) action.host_rewrite_literal = o.hostRewrite;
  if (o.retry) {
    action.retry_policy = {
      retry_on: o.retry.retryOn,
      num_retries: { value: o.retry.numRetries },
      ...(o.retry.perTryTimeoutMs !== undefined ? { per_try_timeout: duration(o.retry.perTryTimeoutMs) } : {}),
    };
  }
  const r: Route = { match: o.match ?? { prefix: '/' }, route: action };
  if (o.name) r.name = o.name;
  return r;
}
