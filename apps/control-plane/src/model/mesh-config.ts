/**
 * Istio's mesh config (the `mesh` key of the `istio` ConfigMap) — the parts tsmesh reads — and the
 * proxy config a workload ends up with: node metadata `PROXY_CONFIG` over the Pod annotation
 * `proxy.istio.io/config` over the mesh's `defaultConfig`, as Istio resolves it.
 */
import { parse } from 'yaml';
import type { PushContext } from './push-context';
import type { Proxy } from './proxy';

/** Istio `ProxyConfig.GatewayTopology`. */
export interface GatewayTopology {
  /** Trusted proxies in front of the gateway: Envoy's `xff_num_trusted_hops`. */
  numTrustedProxies?: number;
}

/** The fields of Istio's `ProxyConfig` that tsmesh reads. */
export interface ProxyConfig {
  gatewayTopology?: GatewayTopology;
}

/** The fields of Istio's `MeshConfig` that tsmesh reads. */
export interface MeshConfig {
  defaultConfig?: ProxyConfig;
  /** Port of the sidecars' outbound capture listener `virtualOutbound` (default 15001). */
  proxyListenPort?: number;
  /** Port of the sidecars' inbound capture listener `virtualInbound` (default 15006). */
  proxyInboundListenPort?: number;
}

/**
 * Reads a mesh config file: a MeshConfig document, or the `istio` ConfigMap holding one under
 * `data.mesh`. Throws naming the field when it is malformed.
 */
export function parseMeshConfig(text: string, file: string): MeshConfig {
  const doc = parse(text) as Record<string, unknown> | null;
  let mesh: unknown = doc ?? {};
  if (doc && doc.kind === 'ConfigMap') {
    const data = doc.data as Record<string, unknown> | undefined;
    mesh = typeof data?.mesh === 'string' ? parse(data.mesh) ?? {} : {};
  }
  const n = (mesh as MeshConfig).defaultConfig?.gatewayTopology?.numTrustedProxies;
  if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new Error(`${file}: defaultConfig.gatewayTopology.numTrustedProxies: ${JSON.stringify(n)} is not a non-negative integer`);
  for (const f of ['proxyListenPort', 'proxyInboundListenPort'] as const) {
    const p = (mesh as MeshConfig)[f];
    if (p !== undefined && (!Number.isInteger(p) || p < 1 || p > 65535)) throw new Error(`${file}: ${f}: ${JSON.stringify(p)} is not a port (1-65535)`);
  }
  return mesh as MeshConfig;
}

function hopsOf(pc: unknown): number | undefined {
  const n = (pc as ProxyConfig | undefined)?.gatewayTopology?.numTrustedProxies;
  const v = typeof n === 'string' && /^\d+$/.test(n) ? Number(n) : n;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** Trusted proxies in front of a gateway: `PROXY_CONFIG` metadata, else the Pod's `proxy.istio.io/config`, else the mesh default, else 0. */
export function numTrustedProxies(push: PushContext, proxy: Proxy): number {
  const fromNode = hopsOf(proxy.metadata.PROXY_CONFIG);
  if (fromNode !== undefined) return fromNode;
  const pod = push.registry.podsByKey.get(`${proxy.namespace}/${proxy.podName}`) ?? (proxy.ip ? push.registry.podsByIp.get(proxy.ip) : undefined);
  const ann = pod?.metadata?.annotations?.['proxy.istio.io/config'];
  if (ann) {
    try {
      const fromPod = hopsOf(parse(ann));
      if (fromPod !== undefined) return fromPod;
    } catch {
      // a malformed annotation is ignored, as Istio logs and ignores it
    }
  }
  return hopsOf(push.options.meshConfig?.defaultConfig) ?? 0;
}
