/** The shapes and makers of Gateway API status that every route and Gateway status computation writes. */

/** One status condition. */
export interface Condition { type: string; status: 'True' | 'False'; reason: string; message: string }
/** A listener's status. */
export interface ListenerStatus { name: string; attachedRoutes: number; conditions: Condition[] }
/** A route's status for one parent. */
export interface RouteParentStatus { parentRef: { group?: string; kind?: string; namespace?: string; name: string; sectionName?: string; port?: number }; controllerName: string; conditions: Condition[] }
/** Status by resource key (`Kind/namespace/name`). */
export type GatewayApiStatus = Map<string, { conditions?: Condition[]; addresses?: { type: 'IPAddress' | 'Hostname'; value: string }[]; listeners?: ListenerStatus[]; parents?: RouteParentStatus[] }>;

/** The controller tsmesh answers for (Istio's). */
export const GATEWAY_CONTROLLER = 'istio.io/gateway-controller';

export const ok = (type: string, reason: string, message = ''): Condition => ({ type, status: 'True', reason, message });
export const bad = (type: string, reason: string, message: string): Condition => ({ type, status: 'False', reason, message });
