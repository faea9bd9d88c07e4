/** Istio's `networking.istio.io` EnvoyFilter: patches to the Envoy resources generated for selected workloads. */
import type { KubeObject } from './meta';

/** What a patch applies to (`EnvoyFilter.ApplyTo`). */
export type EnvoyFilterApplyTo =
  | 'INVALID' | 'LISTENER' | 'FILTER_CHAIN' | 'NETWORK_FILTER' | 'HTTP_FILTER' | 'ROUTE_CONFIGURATION' | 'VIRTUAL_HOST'
  | 'HTTP_ROUTE' | 'CLUSTER' | 'EXTENSION_CONFIG' | 'BOOTSTRAP' | 'LISTENER_FILTER';

/** Where a patch applies (`EnvoyFilter.PatchContext`). */
export type EnvoyFilterContext = 'ANY' | 'SIDECAR_INBOUND' | 'SIDECAR_OUTBOUND' | 'GATEWAY';

/** `EnvoyFilter.Patch.Operation`. */
export type EnvoyFilterOperation = 'INVALID' | 'MERGE' | 'ADD' | 'REMOVE' | 'INSERT_BEFORE' | 'INSERT_AFTER' | 'INSERT_FIRST' | 'REPLACE';

/** `EnvoyFilter.ListenerMatch`. */
export interface EnvoyFilterListenerMatch {
  portNumber?: number;
  portName?: string;
  name?: string;
  filterChain?: {
    name?: string;
    sni?: string;
    transportProtocol?: string;
    applicationProtocols?: string;
    destinationPort?: number;
    filter?: { name?: string; subFilter?: { name?: string } };
  };
  listenerFilter?: string;
}

/** `EnvoyFilter.RouteConfigurationMatch`. */
export interface EnvoyFilterRouteConfigurationMatch {
  portNumber?: number;
  portName?: string;
  gateway?: string;
  name?: string;
  vhost?: { name?: string; domainName?: string; route?: { name?: string; action?: 'ANY' | 'ROUTE' | 'REDIRECT' | 'DIRECT_RESPONSE' } };
}

/** `EnvoyFilter.ClusterMatch`. */
export interface EnvoyFilterClusterMatch {
  portNumber?: number;
  service?: string;
  subset?: string;
  name?: string;
}

/** `EnvoyFilter.EnvoyConfigObjectMatch`. */
export interface EnvoyFilterMatch {
  context?: EnvoyFilterContext;
  proxy?: { proxyVersion?: string; metadata?: Record<string, string> };
  listener?: EnvoyFilterListenerMatch;
  routeConfiguration?: EnvoyFilterRouteConfigurationMatch;
  cluster?: EnvoyFilterClusterMatch;
}

/** `EnvoyFilter.Patch`: `value` is Envoy's resource (or filter) in proto3 JSON. */
export interface EnvoyFilterPatch {
  operation?: EnvoyFilterOperation;
  value?: Record<string, unknown>;
  filterClass?: 'UNSPECIFIED' | 'AUTHN' | 'AUTHZ' | 'STATS';
}

/** `EnvoyFilter.EnvoyConfigObjectPatch`. */
export interface EnvoyFilterConfigPatch {
  applyTo?: EnvoyFilterApplyTo;
  match?: EnvoyFilterMatch;
  patch?: EnvoyFilterPatch;
}

/** `EnvoyFilter` spec. */
export interface EnvoyFilterSpec {
  workloadSelector?: { labels?: Record<string, string> };
  targetRefs?: { group?: string; kind: string; name: string }[];
  configPatches?: EnvoyFilterConfigPatch[];
  priority?: number;
}

export type EnvoyFilter = KubeObject<EnvoyFilterSpec> & { kind: 'EnvoyFilter' };
