/**
 * Core Kubernetes types, from `@kubernetes/client-node` (the maintained model package), re-exported
 * under the names tsmesh uses.
 */
export type {
  V1Service as Service,
  V1ServicePort as ServicePort,
  V1EndpointSlice as EndpointSlice,
  V1Endpoint as SliceEndpoint,
  DiscoveryV1EndpointPort as SliceEndpointPort,
  V1Pod as Pod,
  V1Namespace as Namespace,
  V1Secret as Secret,
  V1ServiceAccount as ServiceAccount,
  V1Ingress as Ingress,
} from '@kubernetes/client-node';
