/**
 * The layer-4 filter chains of a gateway port, as Istio's gateway builds them:
 * - PASSTHROUGH (AUTO_PASSTHROUGH) servers: one chain per VirtualService `tls` route, matching its
 *   SNI names (`server_names`; `*` is the catch-all chain with none) and proxying the still
 *   encrypted bytes with `tcp_proxy` to the route's cluster, or weighted clusters;
 * - TLS servers that terminate (SIMPLE / MUTUAL): the same per `tls` route, and one chain for the
 *   first matching `tcp` route, each with the server's certificate (`transport_socket`) and
 *   `tcp_proxy` over the decrypted stream;
 * - TCP servers: one chain, the first matching `tcp` route, to weighted clusters.
 * A `server_names` set (or the name-less chain) that an earlier chain of the port already claims
 * is skipped, so the oldest route keeps it and the listener stays loadable.
 */
import { tcpProxy, type Filter, type FilterChain } from '@tsmesh/xds';
import { hostMatches, splitNamespacedHost, type RouteDestination } from '@tsmesh/mesh-config';
import type { PushContext } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import { destinationCluster, type RouteContext } from './routes';
import type { GatewayServer } from './gateway';

/** Whether a server passes TLS through untouched. */
export const isPassthrough = (s: GatewayServer) => s.tlsMode === 'PASSTHROUGH' || s.tlsMode === 'AUTO_PASSTHROUGH';
/** Whether a server is a TLS (not HTTPS) server that terminates TLS and proxies TCP. */
export const isTerminatedTls = (s: GatewayServer) => s.protocol === 'TLS' && !isPassthrough(s);
/** Whether a server is served by layer-4 chains (this module). */
export const isL4Server = (s: GatewayServer) => isPassthrough(s) || s.protocol === 'TCP' || s.protocol === 'TLS';

function serverHosts(s: GatewayServer): string[] {
  return s.server.hosts.map((h) => splitNamespacedHost(h, s.gateway.namespace).host);
}

/** Claims the chain match of `names` on a port; false when an earlier chain has any of them. */
export function claimServerNames(claimed: Set<string>, names: readonly string[]): boolean {
  const keys = names.length ? names.map((n) => n.toLowerCase()) : [''];
  if (keys.some((k) => claimed.has(k))) return false;
  for (const k of keys) claimed.add(k);
  return true;
}

function target(ctx: RouteContext, route: readonly RouteDestination[], ns: string): string | { name: string; weight: number }[] {
  const dests = route.filter((d) => route.length === 1 || (d.weight ?? 0) > 0);
  if (dests.length === 1) return destinationCluster(ctx, dests[0].destination, ns);
  return dests.map((d) => ({ name: destinationCluster(ctx, d.destination, ns), weight: d.weight ?? 0 }));
}

/** Layer-4 chains of one server on a port. `tls` is the server's certificate (terminating servers). */
export function gatewayL4Chains(
  push: PushContext, proxy: Proxy, s: GatewayServer, port: number, tcpRbac: () => Filter[], claimed: Set<string>, tls: FilterChain['transport_socket'] | undefined,
): FilterChain[] {
  const ctx: RouteContext = { push, proxy, port: s.server.port.number, gateway: s.ref };
  const chains: FilterChain[] = [];
  const passthrough = isPassthrough(s);
  const terminate = isTerminatedTls(s);
  const onPort = (p: number | undefined) => p === undefined || p === s.server.port.number;
  const forGateway = (gws: readonly string[] | undefined, ns: string) => !gws?.length || gws.some((g) => g === s.ref || `${ns}/${g}` === s.ref);
  const stat = `outbound_0.0.0.0_${port}`;
  let tcpServed = false;
  for (const vs of push.virtualServicesFor(s.ref)) {
    if (passthrough || terminate) {
      for (const tr of vs.spec.tls ?? []) {
        const m = tr.match.find((x) => onPort(x.port) && forGateway(x.gateways, vs.namespace));
        if (!m || !tr.route?.length) continue;
        const sni = m.sniHosts.filter((h) => serverHosts(s).some((sh) => hostMatches(sh, h)));
        if (!sni.length) continue;
        const names = sni.includes('*') ? [] : sni;
        if (!claimServerNames(claimed, names)) continue;
        chains.push({
          name: `${passthrough ? 'passthrough' : 'tls'}.${s.ref}.${sni.join(',')}`,
          filter_chain_match: names.length ? { server_names: names } : {},
          ...(terminate && tls ? { transport_socket: tls } : {}),
          filters: [...tcpRbac(), tcpProxy(stat, target(ctx, tr.route, vs.namespace))],
        });
      }
    }
    if (passthrough || tcpServed) continue;
    const tcp = vs.spec.tcp?.find((t) => !t.match?.length || t.match.some((x) => onPort(x.port) && forGateway(x.gateways, vs.namespace)));
    if (!tcp?.route?.length) continue;
    const hosts = serverHosts(s);
    const names = terminate && !hosts.includes('*') ? hosts : [];
    if (!claimServerNames(claimed, names)) continue;
    tcpServed = true;
    chains.push({
      name: `${terminate ? 'tls' : 'tcp'}.${s.ref}`,
      ...(names.length ? { filter_chain_match: { server_names: names } } : {}),
      ...(terminate && tls ? { transport_socket: tls } : {}),
      filters: [...tcpRbac(), tcpProxy(stat, target(ctx, tcp.route, vs.namespace))],
    });
  }
  return chains;
}
