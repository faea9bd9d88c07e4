import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { PORTS } from './names';

/** What the proxy's 15020 `/app-health/...` endpoint forwards to (`ISTIO_KUBE_APP_PROBERS`, Istio's shape). */
export interface AppProber {
  httpGet?: { path?: string; port: number; scheme?: string; host?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number; host?: string };
  timeoutSeconds?: number;
}

const KINDS = [
  ['readinessProbe', 'readyz'],
  ['livenessProbe', 'livez'],
  ['startupProbe', 'startupz'],
] as const;

function resolvePort(container: V1Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * Rewrites the app containers' HTTP and TCP probes to the proxy's status port, as Istio does, so the
 * kubelet's plaintext probes still work under STRICT mTLS. Returns the new containers and the probers
 * map for `ISTIO_KUBE_APP_PROBERS` (empty when nothing was rewritten). gRPC and exec probes are kept.
 */
export function rewriteProbes(containers: V1Container[]): { containers: V1Container[]; probers: Record<string, AppProber> } {
  const probers: Record<string, AppProber> = {};
  const out = containers.map((container) => {
    const next: V1Container = { ...container };
    for (const [field, suffix] of KINDS) {
      const probe = container[field];
      if (!probe) continue;
      const path = `/app-health/${container.name}/${suffix}`;
      let prober: AppProber | undefined;
      if (probe.httpGet) {
        const port = resolvePort(container, probe.httpGet.port);
        if (port === undefined) continue;
        prober = {
          httpGet: {
            ...(probe.httpGet.path !== undefined ? { path: probe.httpGet.path } : {}),
            port,
            ...(probe.httpGet.scheme ? { scheme: probe.httpGet.scheme } : {}),
            ...(probe.httpGet.host ? { host: probe.httpGet.host } : {}),
            ...(probe.httpGet.httpHeaders?.length ? { httpHeaders: probe.httpGet.httpHeaders } : {}),
          },
        };
      } else if (probe.tcpSocket) {
        const port = resolvePort(container, probe.tcpSocket.port);
        if (port === undefined) continue;
        prober = { tcpSocket: { port, ...(probe.tcpSocket.host ? { host: probe.tcpSocket.host } : {}) } };
      }
      if (!prober) continue;
      if (probe.timeoutSeconds !== undefined) prober.timeoutSeconds = probe.timeoutSeconds;
      probers[path] = prober;
      const rewritten: V1Probe = { ...probe, httpGet: { path, port: PORTS.mergedMetrics, scheme: 'HTTP' } };
      delete rewritten.tcpSocket;
      next[field] = rewritten;
    }
    return next;
  });
  return { containers: out, probers };
}
