/**
 * LDS generation for sidecars: outbound listeners (each cached by {@link OutboundListenerKey})
 * and the inbound listener `virtualInbound` (cached by {@link InboundListenerKey}: the
 * workload's ports and the policies that select it).
 */
import { TypeUrl, encodeResource, type EncodedResource } from '@tsmesh/xds';
import { resolveHost } from '@tsmesh/mesh-config';
import type { Proxy } from '../../model/proxy';
import type { ServiceModel } from '../../registry/registry';
import {
  capturePorts, httpOutboundListener, inboundListener, outboundPorts, sniOutboundListeners, tcpOutboundListener, tcpVirtualServiceFor, virtualOutboundListener, workloadPorts,
  type WorkloadPort,
} from '../listeners';
import { registryOnly } from '../scope';
import { destinationsOf, sourceOf, type PushGeneration } from './context';
import { InboundListenerKey, OutboundListenerKey } from './keys';

/** Sidecar outbound listeners for the visible `services`. */
export function sidecarOutboundListeners(g: PushGeneration, proxy: Proxy, services: readonly ServiceModel[]): EncodedResource[] {
  const blocked = registryOnly(g.push, proxy);
  const out = [g.cache.resource(TypeUrl.Listener, new OutboundListenerKey('virtualOutbound', `${blocked}|${capturePorts(g.push).outbound}`), () => virtualOutboundListener(blocked, capturePorts(g.push).outbound))];
  const { http, tcp } = outboundPorts(services);
  for (const port of http) out.push(g.cache.resource(TypeUrl.Listener, new OutboundListenerKey('http', String(port)), () => httpOutboundListener(port)));
  // Built once per scope and push (their inputs are every address-less TLS ServiceEntry of the scope).
  for (const l of sniOutboundListeners(g.push, proxy, services, http)) out.push(encodeResource(TypeUrl.Listener, l));
  const vss = g.push.virtualServicesFor('mesh', proxy.namespace);
  const seen = new Set<string>();
  for (const { svc, port } of tcp) {
    const name = `${svc.vip}_${port}`;
    if (seen.has(name)) continue;
    seen.add(name);
    const vs = tcpVirtualServiceFor(vss, svc.hostname);
    const key = new OutboundListenerKey('tcp', `${name}|${port}`, svc, vs, destinationsOf(vs, g.push.options.domain), sourceOf(vs, proxy));
    out.push(g.cache.resource(TypeUrl.Listener, key, () => tcpOutboundListener(g.push, proxy, svc, port, vs)));
  }
  return out;
}

/** A sidecar's inbound side: its workload ports and `virtualInbound`. */
export interface InboundPart {
  key: InboundListenerKey;
  ports: WorkloadPort[];
  listener: EncodedResource;
}

/** The inbound listener of a sidecar. */
export function sidecarInbound(g: PushGeneration, proxy: Proxy): InboundPart {
  const push = g.push;
  const ports = workloadPorts(push, proxy);
  const ras = push.policiesFor(push.requestAuthentications, proxy.namespace, proxy.labels);
  const jwksHosts = ras.flatMap((r) => (r.spec.jwtRules ?? []).flatMap((j) => {
    try {
      return j.jwksUri ? [resolveHost(new URL(j.jwksUri).hostname, 'default', push.options.domain)] : [];
    } catch {
      return [];
    }
  }));
  const key = new InboundListenerKey(
    ports,
    push.policiesFor(push.peerAuthentications, proxy.namespace, proxy.labels),
    push.policiesFor(push.authorizationPolicies, proxy.namespace, proxy.labels),
    ras, jwksHosts, push.options.trustDomain,
  );
  return { key, ports, listener: g.cache.resource(TypeUrl.Listener, key, () => inboundListener(push, proxy, ports)) };
}
