/**
 * LDS for sidecars. Outbound: `virtualOutbound` on 15001 (original destination, passthrough by
 * default), `0.0.0.0_<port>` per HTTP port (RDS `<port>`, not bound), `<VIP>_<port>` per TCP
 * service port. Inbound: `virtualInbound` on 15006 with one filter chain per workload port and
 * mTLS mode (PeerAuthentication), HTTP ports through an HTTP connection manager with the
 * AuthorizationPolicy RBAC filters, TCP ports through network RBAC and a TCP proxy.
 */
import {
  downstreamTlsContext, formatClusterName, httpConnectionManager, listener, listenerFilter, pack, routeConfiguration,
  sdsCommonTlsContext, tcpProxy, virtualHost, ExtensionTypeUrl,
  type Filter, type FilterChain, type HttpFilter, type Listener,
} from '@tsmesh/xds';
import { isHttpProtocol, type MtlsMode, type Protocol } from '@tsmesh/mesh-config';
import type { PushContext, VirtualServiceConfig } from '../model/push-context';
import { matches } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import type { ServiceModel } from '../registry/registry';
import { BLACKHOLE_CLUSTER, ISTIO_ALPN, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, SDS_DEFAULT, SDS_ROOTCA } from './common';
import { rbacFor, rbacHttpFilters, rbacNetworkFilters } from './rbac';
import { jwtFilter } from './jwt';
import { CORS_FILTER, destinationCluster, FAULT_FILTER } from './routes';
import { registryOnly } from './scope';

/** Envoy's fault filter with no defaults (per-route config turns it on). */
export function faultFilter(): HttpFilter {
  return { name: FAULT_FILTER, typed_config: pack(ExtensionTypeUrl.HttpFault, {}) };
}

/** Envoy's CORS filter (`envoy.filters.http.cors`); the policies are per route (VirtualService `corsPolicy`). */
export function corsFilter(): HttpFilter {
  return { name: CORS_FILTER, typed_config: pack(ExtensionTypeUrl.Cors, {}) };
}

/** HTTP ports (outbound listeners `0.0.0.0_<port>`) and TCP service ports of the visible services. */
export function outboundPorts(services: readonly ServiceModel[]): { http: number[]; tcp: { svc: ServiceModel; port: number; protocol: Protocol }[] } {
  const http = new Set<number>();
  const tcp: { svc: ServiceModel; port: number; protocol: Protocol }[] = [];
  for (const svc of services) {
    for (const p of svc.ports) {
      if (p.protocol === 'UDP') continue;
      if (isHttpProtocol(p.protocol)) http.add(p.port);
      else if (svc.vip && svc.resolution !== 'PASSTHROUGH') tcp.push({ svc, port: p.port, protocol: p.protocol });
    }
  }
  return { http: [...http].sort((a, b) => a - b), tcp };
}

/** The capture ports: MeshConfig `proxyListenPort` (15001) and `proxyInboundListenPort` (15006). */
export function capturePorts(push: PushContext): { outbound: number; inbound: number } {
  const m = push.options.meshConfig;
  return { outbound: m?.proxyListenPort || 15001, inbound: m?.proxyInboundListenPort || 15006 };
}

/** `virtualOutbound` on the outbound capture port (15001): original destination, then passthrough (or the black hole with REGISTRY_ONLY). */
export function virtualOutboundListener(blocked: boolean, port = 15001): Listener {
  return listener({
    name: 'virtualOutbound', address: '0.0.0.0', port, useOriginalDst: true, trafficDirection: 'OUTBOUND',
    listenerFilters: [listenerFilter('original_dst')],
    filterChains: [{ name: 'virtualOutbound-catchall-tcp', filters: [tcpProxy(blocked ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER, blocked ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER)] }],
  });
}

/** `0.0.0.0_<port>`: an HTTP outbound port, routes from RDS `<port>`. */
export function httpOutboundListener(port: number): Listener {
  return listener({
    name: `0.0.0.0_${port}`, address: '0.0.0.0', port, bindToPort: false, trafficDirection: 'OUTBOUND',
    filterChains: [{ filters: [httpConnectionManager({ statPrefix: `outbound_0.0.0.0_${port}`, rdsName: String(port), httpFilters: [corsFilter(), faultFilter()], upgradeWebsocket: true })] }],
  });
}

/** The VirtualService with `tcp` routes for a host among `vss` (the oldest). */
export function tcpVirtualServiceFor(vss: readonly VirtualServiceConfig[], host: string): VirtualServiceConfig | undefined {
  return vss.find((v) => v.hosts.includes(host) && v.spec.tcp?.length);
}

/** `<VIP>_<port>`: a TCP service port, to its cluster or the VirtualService's `tcp` route. */
export function tcpOutboundListener(push: PushContext, proxy: Proxy, svc: ServiceModel, port: number, vs: VirtualServiceConfig | undefined): Listener {
  const tr = vs?.spec.tcp?.find((t) => !t.match?.length || t.match.some((m) => (m.port === undefined || m.port === port) && (!m.sourceLabels || matches(m.sourceLabels, proxy.labels))));
  const ctx = { push, proxy, port, gateway: 'mesh' };
  let target: string | { name: string; weight: number }[] = formatClusterName({ direction: 'outbound', port, subset: '', host: svc.hostname });
  if (tr?.route?.length) {
    const dests = tr.route.filter((d) => tr.route!.length === 1 || (d.weight ?? 0) > 0);
    target = dests.length === 1 ? destinationCluster(ctx, dests[0].destination, vs!.namespace) : dests.map((d) => ({ name: destinationCluster(ctx, d.destination, vs!.namespace), weight: d.weight ?? 0 }));
  }
  return listener({
    name: `${svc.vip}_${port}`, address: svc.vip!, port, bindToPort: false, trafficDirection: 'OUTBOUND',
    filterChains: [{ filters: [tcpProxy(`outbound|${port}||${svc.hostname}`, target)] }],
  });
}

/**
 * `0.0.0.0_<port>` for TLS without an address: the HTTPS / TLS ports of ServiceEntries that have
 * no `addresses` (no VIP to listen on), as Istio builds them — a TLS inspector and one filter
 * chain per host matching the SNI (the VirtualService `tls` route for that SNI when there is one,
 * else the ServiceEntry's cluster); other SNIs fall through to passthrough, or the black hole with
 * REGISTRY_ONLY. Ports that also carry HTTP services keep their HTTP listener.
 */
export function sniOutboundListeners(push: PushContext, proxy: Proxy, services: readonly ServiceModel[], httpPorts: readonly number[]): Listener[] {
  const byPort = new Map<number, { svc: ServiceModel; port: number }[]>();
  for (const svc of services) {
    if (svc.vip || svc.source !== 'serviceentry') continue;
    for (const p of svc.ports) {
      if ((p.protocol !== 'HTTPS' && p.protocol !== 'TLS') || httpPorts.includes(p.port)) continue;
      byPort.set(p.port, [...(byPort.get(p.port) ?? []), { svc, port: p.port }]);
    }
  }
  const vss = push.virtualServicesFor('mesh', proxy.namespace);
  const blocked = registryOnly(push, proxy);
  const out: Listener[] = [];
  for (const [port, list] of [...byPort].sort((a, b) => a[0] - b[0])) {
    const chains: FilterChain[] = [];
    const claimed = new Set<string>();
    for (const { svc } of list.sort((a, b) => (a.svc.hostname < b.svc.hostname ? -1 : 1))) {
      if (claimed.has(svc.hostname)) continue;
      claimed.add(svc.hostname);
      const ctx = { push, proxy, port, gateway: 'mesh' };
      let target: string | { name: string; weight: number }[] = formatClusterName({ direction: 'outbound', port, subset: '', host: svc.hostname });
      for (const vs of vss) {
        const tr = vs.spec.tls?.find((t) => t.match.some((m) => m.sniHosts.includes(svc.hostname) && (m.port === undefined || m.port === port) && (!m.sourceLabels || matches(m.sourceLabels, proxy.labels))));
        if (!tr?.route?.length) continue;
        const dests = tr.route.filter((d) => tr.route!.length === 1 || (d.weight ?? 0) > 0);
        target = dests.length === 1 ? destinationCluster(ctx, dests[0].destination, vs.namespace) : dests.map((d) => ({ name: destinationCluster(ctx, d.destination, vs.namespace), weight: d.weight ?? 0 }));
        break;
      }
      chains.push({ name: `${svc.hostname}:${port}`, filter_chain_match: { server_names: [svc.hostname] }, filters: [tcpProxy(`outbound|${port}||${svc.hostname}`, target)] });
    }
    const fallback = blocked ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
    chains.push({ name: blocked ? 'block_all' : 'passthrough', filters: [tcpProxy(fallback, fallback)] });
    out.push(listener({
      name: `0.0.0.0_${port}`, address: '0.0.0.0', port, bindToPort: false, trafficDirection: 'OUTBOUND',
      listenerFilters: [listenerFilter('tls_inspector')], filterChains: chains,
    }));
  }
  return out;
}

/** Sidecar outbound listeners. */
export function outboundListeners(push: PushContext, proxy: Proxy, services: readonly ServiceModel[]): Listener[] {
  const out: Listener[] = [virtualOutboundListener(registryOnly(push, proxy), capturePorts(push).outbound)];
  const { http, tcp } = outboundPorts(services);
  for (const port of http) out.push(httpOutboundListener(port));
  out.push(...sniOutboundListeners(push, proxy, services, http));
  const vss = push.virtualServicesFor('mesh', proxy.namespace);
  const seen = new Set<string>();
  for (const { svc, port } of tcp) {
    const name = `${svc.vip}_${port}`;
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(tcpOutboundListener(push, proxy, svc, port, tcpVirtualServiceFor(vss, svc.hostname)));
  }
  return out;
}

/** One port the workload serves: the port the app listens on and its protocol. */
export interface WorkloadPort {
  port: number;
  protocol: Protocol;
}

/** Ports of the workload behind a proxy: target ports of the services that select it (or list its IP). */
export function workloadPorts(push: PushContext, proxy: Proxy): WorkloadPort[] {
  const ports = new Map<number, Protocol>();
  const byIp = push.registry.endpointsByIp.get(proxy.ip) ?? [];
  for (const svc of push.registry.servicesByNamespace.get(proxy.namespace) ?? []) {
    const eps = byIp.filter((x) => x.svc === svc).map((x) => x.ep);
    const selected = svc.selector && Object.keys(svc.selector).length > 0 && matches(svc.selector, proxy.labels);
    if (!eps.length && !selected) continue;
    for (const sp of svc.ports) {
      if (sp.protocol === 'UDP') continue;
      const ep = eps.find((e) => e.servicePort === sp.port);
      const port = ep?.port ?? (typeof sp.targetPort === 'number' ? sp.targetPort : typeof sp.targetPort === 'string' && /^\d+$/.test(sp.targetPort) ? Number(sp.targetPort) : sp.targetPort === undefined ? sp.port : undefined);
      if (port === undefined || ports.has(port)) continue;
      ports.set(port, sp.protocol);
    }
  }
  return [...ports].map(([port, protocol]) => ({ port, protocol })).sort((a, b) => a.port - b.port);
}

/**
 * The PeerAuthentication mode of a workload port: workload policy (port-level first) over
 * namespace policy over mesh policy (root namespace); UNSET inherits; PERMISSIVE by default.
 */
export function mtlsModeFor(push: PushContext, proxy: Proxy, port: number): Exclude<MtlsMode, 'UNSET'> {
  const pas = push.policiesFor(push.peerAuthentications, proxy.namespace, proxy.labels);
  const root = push.options.rootNamespace;
  const workload = pas.filter((p) => p.namespace === proxy.namespace && p.spec.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length);
  const ns = pas.filter((p) => p.namespace === proxy.namespace && !(p.spec.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length));
  const mesh = pas.filter((p) => p.namespace === root && !(p.spec.selector?.matchLabels && Object.keys(p.spec.selector.matchLabels).length));
  for (const level of [workload, ns, mesh]) {
    const p = level[0];
    if (!p) continue;
    const pl = p.spec.portLevelMtls?.[String(port)]?.mode;
    if (pl && pl !== 'UNSET') return pl;
    const m = p.spec.mtls?.mode;
    if (m && m !== 'UNSET') return m;
  }
  return 'PERMISSIVE';
}

function inboundTls() {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ['h2', 'http/1.1'] }), true)),
  };
}

/**
 * The security HTTP filters of a workload (sidecar inbound or gateway), in Istio's order: JWT
 * authentication (RequestAuthentication), then RBAC AUDIT, DENY, ALLOW (AuthorizationPolicy).
 */
export function securityHttpFilters(push: PushContext, proxy: Proxy): HttpFilter[] {
  const jwt = jwtFilter(push, push.policiesFor(push.requestAuthentications, proxy.namespace, proxy.labels));
  const rb = rbacFor(push.policiesFor(push.authorizationPolicies, proxy.namespace, proxy.labels), 'http');
  return [...(jwt ? [jwt] : []), ...rbacHttpFilters(rb)];
}

/** The network RBAC filters of a workload's TCP chain. */
export function securityNetworkFilters(push: PushContext, proxy: Proxy, statPrefix: string): Filter[] {
  return rbacNetworkFilters(rbacFor(push.policiesFor(push.authorizationPolicies, proxy.namespace, proxy.labels), 'tcp'), statPrefix);
}

/** The filters that serve one workload port: HTTP connection manager or TCP proxy, with RBAC. */
function inboundFilters(push: PushContext, proxy: Proxy, wp: WorkloadPort): Filter[] {
  const cluster = formatClusterName({ direction: 'inbound', port: wp.port, subset: '', host: '' });
  if (isHttpProtocol(wp.protocol)) {
    return [httpConnectionManager({
      statPrefix: `inbound_0.0.0.0_${wp.port}`,
      httpFilters: securityHttpFilters(push, proxy),
      routeConfig: routeConfiguration(cluster, [virtualHost(`inbound|http|${wp.port}`, ['*'], [
        { name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0, nanos: 0 } } },
      ])]),
      upgradeWebsocket: true,
    })];
  }
  return [...securityNetworkFilters(push, proxy, `tcp.inbound_${wp.port}`), tcpProxy(cluster, cluster)];
}

/** `virtualInbound` on the inbound capture port (15006). */
export function inboundListener(push: PushContext, proxy: Proxy, ports: readonly WorkloadPort[]): Listener {
  const chains: FilterChain[] = [];
  for (const wp of ports) {
    const mode = mtlsModeFor(push, proxy, wp.port);
    const filters = inboundFilters(push, proxy, wp);
    if (mode === 'STRICT' || mode === 'PERMISSIVE') {
      chains.push({
        name: `inbound_${wp.port}_mtls`,
        filter_chain_match: { destination_port: { value: wp.port }, transport_protocol: 'tls', ...(mode === 'PERMISSIVE' ? { application_protocols: ISTIO_ALPN } : {}) },
        transport_socket: inboundTls(),
        filters,
      });
    }
    if (mode === 'PERMISSIVE' || mode === 'DISABLE') {
      chains.push({ name: `inbound_${wp.port}_plaintext`, filter_chain_match: { destination_port: { value: wp.port } }, filters });
    }
  }
  const strictAll = mtlsModeFor(push, proxy, 0) === 'STRICT';
  chains.push(strictAll
    ? { name: 'virtualInbound-catchall-mtls', filter_chain_match: { transport_protocol: 'tls' }, transport_socket: inboundTls(), filters: [tcpProxy('InboundPassthrough', INBOUND_PASSTHROUGH_CLUSTER)] }
    : { name: 'virtualInbound-catchall', filter_chain_match: {}, filters: [tcpProxy('InboundPassthrough', INBOUND_PASSTHROUGH_CLUSTER)] });
  return listener({
    name: 'virtualInbound', address: '0.0.0.0', port: capturePorts(push).inbound, trafficDirection: 'INBOUND',
    listenerFilters: [listenerFilter('original_dst'), listenerFilter('tls_inspector')],
    filterChains: chains,
  });
}
