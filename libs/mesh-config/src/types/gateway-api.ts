/**
 * Kubernetes Gateway API types (gateway.networking.k8s.io v1; v1beta1 has the same shape), from
 * `@kubernetes-models/gateway-api`, which generates them from the Gateway API CRDs.
 */
import type { IGatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IGRPCRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute';
import type { IReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ReferenceGrant';
import type { ITLSRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2/TLSRoute';
import type { ITCPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2/TCPRoute';

export type GatewayClassObject = IGatewayClass;
export type GatewayClassSpecApi = IGatewayClass['spec'];
export type KubernetesGatewayObject = IGateway;
export type KubernetesGatewaySpec = IGateway['spec'];
export type GatewayListener = IGateway['spec']['listeners'][number];
export type HTTPRouteObject = IHTTPRoute;
export type HTTPRouteSpecApi = IHTTPRoute['spec'];
export type HTTPRouteRuleApi = NonNullable<IHTTPRoute['spec']['rules']>[number];
export type HTTPRouteMatchApi = NonNullable<HTTPRouteRuleApi['matches']>[number];
export type HTTPRouteFilterApi = NonNullable<HTTPRouteRuleApi['filters']>[number];
export type HTTPBackendRefApi = NonNullable<HTTPRouteRuleApi['backendRefs']>[number];
export type GatewayParentRef = NonNullable<IHTTPRoute['spec']['parentRefs']>[number];
export type GRPCRouteObject = IGRPCRoute;
export type ReferenceGrantObject = IReferenceGrant;
export type ReferenceGrantSpecApi = IReferenceGrant['spec'];
/** TLSRoute (v1alpha2; v1alpha3 and v1 have the same shape, with `hostnames` required). */
export type TLSRouteObject = ITLSRoute;
/** TCPRoute (v1alpha2). */
export type TCPRouteObject = ITCPRoute;
/** A backendRef of a TLSRoute or TCPRoute rule. */
export type L4BackendRefApi = NonNullable<ITCPRoute['spec']['rules']>[number]['backendRefs'][number];
