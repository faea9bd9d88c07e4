/**
 * Proxyless gRPC (`@grpc/grpc-js-xds` clients, node metadata `GENERATOR: grpc`): an API listener
 * per service port named `<fqdn>:<port>` (plus `<name>.<ns>:<port>` and, in the same namespace,
 * `<name>:<port>`), each with an RDS route table of the same FQDN name, and EDS clusters with
 * no TLS (transport security is not configured over xDS for proxyless clients here).
 */
import { apiListener, routeConfiguration, virtualHost, type Listener, type RouteConfiguration } from '@tsmesh/xds';
import { isHttpProtocol } from '@tsmesh/mesh-config';
import type { PushContext } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import type { ServiceModel } from '../registry/registry';
import { defaultRoute, virtualServiceForHost, virtualServiceRoutes } from './routes';

/** Target names a proxyless client may dial for a service port. */
export function grpcTargetNames(svc: ServiceModel, port: number, namespace: string): string[] {
  const names = [`${svc.hostname}:${port}`];
  if (svc.source === 'kubernetes') {
    names.push(`${svc.name}.${svc.namespace}:${port}`, `${svc.name}.${svc.namespace}.svc:${port}`);
    if (svc.namespace === namespace) names.push(`${svc.name}:${port}`);
  }
  return names;
}

/** API listeners and route tables for every HTTP/gRPC service port. */
export function grpcListenersAndRoutes(push: PushContext, proxy: Proxy, services: readonly ServiceModel[]): { listeners: Listener[]; routes: RouteConfiguration[] } {
  const listeners: Listener[] = [];
  const routes: RouteConfiguration[] = [];
  const vss = push.virtualServicesFor('mesh', proxy.namespace);
  for (const svc of services) {
    for (const p of svc.ports) {
      if (!isHttpProtocol(p.protocol)) continue;
      const names = grpcTargetNames(svc, p.port, proxy.namespace);
      const rds = names[0];
      for (const n of names) listeners.push(apiListener(n, { rdsName: rds }));
      const vs = virtualServiceForHost(vss, svc.hostname);
      const rs = vs ? virtualServiceRoutes(vs, { push, proxy, port: p.port, gateway: 'mesh', proxyless: true }) : [];
      if (!rs.length) rs.push(defaultRoute(svc, p.port, true));
      routes.push(routeConfiguration(rds, [virtualHost(rds, [...names, ...names.map((n) => n.slice(0, n.lastIndexOf(':')))], rs)]));
    }
  }
  return { listeners, routes };
}
