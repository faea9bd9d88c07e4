/**
 * Gateways (`router` proxies): listeners per Gateway server port — HTTP (RDS `http.<port>`),
 * HTTPS with SIMPLE / MUTUAL (TLS terminated with the SDS secret `kubernetes://<credentialName>`,
 * RDS `https.<port>.<server>`), PASSTHROUGH (SNI routed to TLS routes) — and their route tables
 * from the VirtualServices bound to the Gateway, with `httpsRedirect`. Every chain carries the
 * policies selecting the gateway workload (AuthorizationPolicy, RequestAuthentication), as Istio
 * applies them to gateways; HTTP chains take `xff_num_trusted_hops` from `numTrustedProxies`.
 */
import {
  downstreamTlsContext, formatClusterName, httpConnectionManager, listener, listenerFilter, pack, routeConfiguration,
  sdsCommonTlsContext, virtualHost, ExtensionTypeUrl,
  type FilterChain, type Listener, type RouteConfiguration, type VirtualHost,
} from '@tsmesh/xds';
import { hostMatches, parseCrossNamespaceCredential, splitNamespacedHost, type GatewaySpec, type Server } from '@tsmesh/mesh-config';
import type { Config, PushContext } from '../model/push-context';
import { matches } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import { virtualServiceRoutes, type RouteContext } from './routes';
import { claimServerNames, gatewayL4Chains, isL4Server, isTerminatedTls } from './gateway-l4';
import { corsFilter, faultFilter, securityHttpFilters, securityNetworkFilters } from './listeners';
import { numTrustedProxies } from '../model/mesh-config';

/** A server of a Gateway that applies to this proxy. */
export interface GatewayServer {
  gateway: Config<GatewaySpec>;
  server: Server;
  index: number;
  /** `ns/name` of the Gateway. */
  ref: string;
  /** The port the proxy binds (the gateway Service's target port for this server port). */
  bindPort: number;
  protocol: string;
  tlsMode?: string;
}

/** Gateways whose selector matches the proxy's labels. */
export function gatewaysFor(push: PushContext, proxy: Proxy): Config<GatewaySpec>[] {
  return push.gateways.filter((g) => {
    const sel = g.spec.selector ?? {};
    return Object.keys(sel).length === 0 ? g.namespace === proxy.namespace : matches(sel, proxy.labels);
  });
}

/** The target port of the gateway workload's Service for a server port (80 → 8080), else the port itself. */
function bindPortFor(push: PushContext, proxy: Proxy, port: number, declared?: number): number {
  if (declared) return declared;
  for (const svc of push.registry.services) {
    if (svc.source !== 'kubernetes' || !svc.selector || !Object.keys(svc.selector).length || !matches(svc.selector, proxy.labels)) continue;
    const sp = svc.ports.find((p) => p.port === port);
    if (sp && typeof sp.targetPort === 'number') return sp.targetPort;
  }
  return port;
}

function createdAt(g: Config<GatewaySpec>): number {
  const c = (g.resource.object as { metadata?: { creationTimestamp?: string | Date } }).metadata?.creationTimestamp;
  const t = c ? new Date(c).getTime() : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Servers of all Gateways selecting this proxy, oldest Gateway first. As Istio merges them: every
 * plain-HTTP server is kept (servers sharing a bind port share its route table); a TLS server
 * (HTTPS or TLS, not a redirect) whose bind port and host another, older TLS server already has is
 * skipped (istioctl reports IST0145).
 */
export function gatewayServers(push: PushContext, proxy: Proxy): GatewayServer[] {
  const out: GatewayServer[] = [];
  const tlsClaims = new Set<string>();
  const gateways = [...gatewaysFor(push, proxy)].sort((a, b) => createdAt(a) - createdAt(b) || (a.resource.key < b.resource.key ? -1 : a.resource.key > b.resource.key ? 1 : 0));
  for (const g of gateways) {
    (g.spec.servers ?? []).forEach((server, index) => {
      const protocol = (server.port.protocol ?? 'HTTP').toUpperCase();
      const s: GatewayServer = {
        gateway: g, server, index, ref: `${g.namespace}/${g.name}`, protocol,
        bindPort: bindPortFor(push, proxy, server.port.number, server.port.targetPort),
        tlsMode: server.tls?.mode ?? (protocol === 'HTTPS' || protocol === 'TLS' ? 'SIMPLE' : undefined),
      };
      if ((protocol === 'HTTPS' || protocol === 'TLS') && !server.tls?.httpsRedirect) {
        const claims = serverHosts(s).map((h) => `${s.bindPort}|${h}`);
        if (claims.some((c) => tlsClaims.has(c))) return;
        for (const c of claims) tlsClaims.add(c);
      }
      out.push(s);
    });
  }
  return out;
}

/** Istio's name of an HTTPS server's route table: `https.<port>.<portName>.<gateway>.<namespace>`. */
export function httpsRouteName(s: GatewayServer): string {
  return `https.${s.server.port.number}.${s.server.name ?? s.server.port.name ?? s.index}.${s.gateway.name}.${s.gateway.namespace}`;
}

const isTerminatedHttps = (s: GatewayServer) => (s.protocol === 'HTTPS') && s.tlsMode !== 'PASSTHROUGH' && s.tlsMode !== 'AUTO_PASSTHROUGH';
const isPlainHttp = (s: GatewayServer) => ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'].includes(s.protocol);

function serverHosts(s: GatewayServer): string[] {
  return s.server.hosts.map((h) => splitNamespacedHost(h, s.gateway.namespace).host);
}

function sniNames(s: GatewayServer): string[] {
  const hosts = serverHosts(s);
  return hosts.includes('*') ? [] : hosts;
}

/** The SDS name of a server's certificate: `kubernetes://<credentialName>`, or a credential that names its own scheme (`kubernetes-gateway://<ns>/<name>`). */
export const credentialSdsName = (cred: string) => (cred.includes('://') ? cred : `kubernetes://${cred}`);

function serverTls(s: GatewayServer) {
  const cred = s.server.tls?.credentialName;
  const mutual = s.tlsMode === 'MUTUAL' || s.tlsMode === 'OPTIONAL_MUTUAL';
  const common = sdsCommonTlsContext({
    certSecret: cred ? credentialSdsName(cred) : 'default',
    ...(mutual ? { validationSecret: cred ? `${credentialSdsName(cred)}-cacert` : 'ROOTCA' } : {}),
    // A TLS server proxies TCP after the handshake: no HTTP protocol is offered.
    alpn: s.protocol === 'TLS' ? [] : ['h2', 'http/1.1'],
    spiffeIds: [],
  });
  if (s.server.tls?.subjectAltNames?.length && common.combined_validation_context) {
    common.combined_validation_context.default_validation_context = {
      match_typed_subject_alt_names: s.server.tls.subjectAltNames.map((n) => ({ san_type: 'DNS' as const, matcher: { exact: n } })),
    };
  }
  return { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(common, s.tlsMode === 'MUTUAL')) };
}

/** Gateway listeners `0.0.0.0_<bind port>`. */
export function gatewayListeners(push: PushContext, proxy: Proxy, servers: readonly GatewayServer[]): Listener[] {
  const byPort = new Map<number, GatewayServer[]>();
  for (const s of servers) byPort.set(s.bindPort, [...(byPort.get(s.bindPort) ?? []), s]);
  const out: Listener[] = [];
  // The gateway's own policies (AuthorizationPolicy, RequestAuthentication selecting it), then
  // fault injection, then the router: Istio's order of a gateway's HTTP filters.
  const httpFilters = [...securityHttpFilters(push, proxy), corsFilter(), faultFilter()];
  const xffNumTrustedHops = numTrustedProxies(push, proxy);
  const hcm = (statPrefix: string, rdsName: string) => httpConnectionManager({ statPrefix, rdsName, httpFilters, useRemoteAddress: true, xffNumTrustedHops, upgradeWebsocket: true });
  for (const [port, list] of [...byPort].sort((a, b) => a[0] - b[0])) {
    const chains: FilterChain[] = [];
    const tcpRbac = () => securityNetworkFilters(push, proxy, `tcp.outbound_0.0.0.0_${port}`);
    let tlsInspector = false;
    // The chain matches (server names, or none) already taken on this port: a later chain with
    // the same match would make the listener unloadable, so it is left out.
    const claimed = new Set<string>();
    const plain = list.filter(isPlainHttp);
    if (plain.length) {
      claimServerNames(claimed, []);
      chains.push({ filters: [hcm(`outbound_0.0.0.0_${port}`, `http.${port}`)] });
    }
    for (const s of list.filter(isTerminatedHttps)) {
      tlsInspector = true;
      const names = sniNames(s);
      if (!claimServerNames(claimed, names)) continue;
      chains.push({
        name: httpsRouteName(s),
        filter_chain_match: names.length ? { server_names: names } : {},
        transport_socket: serverTls(s),
        filters: [hcm(`outbound_0.0.0.0_${port}`, httpsRouteName(s))],
      });
    }
    for (const s of list.filter(isL4Server)) {
      const l4 = gatewayL4Chains(push, proxy, s, port, tcpRbac, claimed, isTerminatedTls(s) ? serverTls(s) : undefined);
      if (l4.length && s.protocol !== 'TCP') tlsInspector = true;
      chains.push(...l4);
    }
    if (!chains.length) continue;
    out.push(listener({
      name: `0.0.0.0_${port}`, address: '0.0.0.0', port, trafficDirection: 'OUTBOUND',
      ...(tlsInspector ? { listenerFilters: [listenerFilter('tls_inspector')] } : {}),
      filterChains: chains,
    }));
  }
  return out;
}

/**
 * Virtual hosts of one server: for each VirtualService host the server admits, the VS routes.
 * Keyed by host, so servers merged into one route table (one bind port) share a virtual host per
 * host, answering on every server port.
 */
function serverVirtualHosts(push: PushContext, proxy: Proxy, s: GatewayServer, vhosts: Map<string, VirtualHost>, redirect: boolean, done = new Set<string>()): void {
  const ctx: RouteContext = { push, proxy, port: s.server.port.number, gateway: s.ref };
  for (const vs of push.virtualServicesFor(s.ref)) {
    const allowedNs = s.server.hosts.map((h) => splitNamespacedHost(h, s.gateway.namespace));
    for (const host of vs.spec.hosts ?? []) {
      const ok = allowedNs.some((a) => (a.namespace === '*' || a.namespace === vs.namespace) && (hostMatches(a.host, host) || hostMatches(host, a.host)));
      if (!ok) continue;
      const vh = vhostFor(vhosts, host, s);
      // Two servers of one port that both admit the host (`*` and `*.example.com`) add its routes once.
      const once = `${vs.namespace}/${vs.name}|${host}|${ctx.port}|${redirect}`;
      if (done.has(once)) continue;
      done.add(once);
      if (redirect) vh.require_tls = 'ALL';
      else vh.routes!.push(...virtualServiceRoutes(vs, ctx));
    }
  }
}

function vhostFor(vhosts: Map<string, VirtualHost>, host: string, s: GatewayServer): VirtualHost {
  let vh = vhosts.get(host);
  if (!vh) {
    vh = virtualHost(`${host}:${s.bindPort}`, host === '*' ? ['*'] : [host], []);
    vhosts.set(host, vh);
  }
  if (host !== '*') {
    for (const p of [s.server.port.number, s.bindPort]) if (!vh.domains!.includes(`${host}:${p}`)) vh.domains!.push(`${host}:${p}`);
  }
  return vh;
}

/**
 * Route tables of the gateway: `http.<bind port>` per plain-HTTP bind port, merging every server
 * that binds it (a server on 80 and one on 8080, both bound to 8080 through the gateway Service's
 * target port, share `http.8080`, as in Istio), and `https.<port>.<server>` per HTTPS server.
 */
export function gatewayRoutes(push: PushContext, proxy: Proxy, servers: readonly GatewayServer[]): RouteConfiguration[] {
  const out: RouteConfiguration[] = [];
  const plainByPort = new Map<number, GatewayServer[]>();
  for (const s of servers.filter(isPlainHttp)) plainByPort.set(s.bindPort, [...(plainByPort.get(s.bindPort) ?? []), s]);
  for (const [port, list] of [...plainByPort].sort((a, b) => a[0] - b[0])) {
    const vhosts = new Map<string, VirtualHost>();
    const done = new Set<string>();
    for (const s of list) {
      if (s.server.tls?.httpsRedirect) {
        serverVirtualHosts(push, proxy, s, vhosts, true, done);
        for (const h of serverHosts(s)) vhostFor(vhosts, h, s).require_tls = 'ALL';
      } else {
        serverVirtualHosts(push, proxy, s, vhosts, false, done);
      }
    }
    const list2 = [...vhosts.values()].filter((v) => v.routes!.length || v.require_tls);
    for (const v of list2) if (v.require_tls && !v.routes!.length) v.routes = [{ name: 'https_redirect', match: { prefix: '/' }, redirect: { https_redirect: true } }];
    out.push(routeConfiguration(`http.${port}`, list2, { validateClusters: false }));
  }
  for (const s of servers.filter(isTerminatedHttps)) {
    const vhosts = new Map<string, VirtualHost>();
    serverVirtualHosts(push, proxy, s, vhosts, false);
    out.push(routeConfiguration(httpsRouteName(s), [...vhosts.values()].filter((v) => v.routes!.length), { validateClusters: false }));
  }
  return out;
}

/**
 * The credentials the gateway's terminating listeners reference: `sds` is the SDS name
 * (`kubernetes://<credentialName>`, a Secret of the Gateway's namespace; or
 * `kubernetes-gateway://<ns>/<name>`, a Gateway API certificateRef into another namespace
 * `namespace`, `gatewayNamespace` being the Gateway's, for the SDS side to check the
 * ReferenceGrant again).
 */
export function gatewayCredentialNames(servers: readonly GatewayServer[]): { sds: string; namespace?: string; name: string; gatewayNamespace: string; mutual: boolean }[] {
  const out = new Map<string, { sds: string; namespace?: string; name: string; gatewayNamespace: string; mutual: boolean }>();
  for (const s of servers) {
    const cred = s.server.tls?.credentialName;
    if (!cred || !(isTerminatedHttps(s) || isTerminatedTls(s))) continue;
    const mutual = s.tlsMode === 'MUTUAL' || s.tlsMode === 'OPTIONAL_MUTUAL';
    const sds = credentialSdsName(cred);
    const cross = parseCrossNamespaceCredential(cred);
    const prev = out.get(sds);
    // A plain credential is read from the gateway proxy's namespace (namespace left unset), as Istio does.
    out.set(sds, { sds, ...(cross ? { namespace: cross.namespace } : {}), name: cross?.name ?? cred, gatewayNamespace: s.gateway.namespace, mutual: mutual || !!prev?.mutual });
  }
  return [...out.values()];
}

export { formatClusterName };
