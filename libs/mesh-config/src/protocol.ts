/** Protocol of a port, as Istio selects it: `appProtocol` first, then the port name prefix. */

/** Protocols tsmesh distinguishes. */
export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'GRPC-Web' | 'HTTPS' | 'TLS' | 'TCP' | 'MONGO' | 'UDP' | 'UNKNOWN';

const BY_NAME: Record<string, Protocol> = {
  http: 'HTTP', http2: 'HTTP2', h2c: 'HTTP2', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', https: 'HTTPS', tls: 'TLS',
  tcp: 'TCP', mongo: 'MONGO', udp: 'UDP',
  // Kubernetes' standard appProtocol values.
  'kubernetes.io/h2c': 'HTTP2', 'kubernetes.io/ws': 'HTTP', 'kubernetes.io/wss': 'HTTPS',
};

/** Parses an Istio protocol name (`HTTP`, `grpc`, `TLS`...); UNKNOWN when it is not one. */
export function parseProtocol(s: string | undefined | null): Protocol {
  if (!s) return 'UNKNOWN';
  return BY_NAME[s.toLowerCase()] ?? 'UNKNOWN';
}

/**
 * Protocol of a Kubernetes service port: `appProtocol` when set, else the name's prefix before
 * `-` (`http-web`, `grpc`, `tcp-db`), else UNKNOWN (Istio then sniffs; tsmesh treats it as TCP).
 * UDP ports are UDP whatever their name.
 */
export function protocolOfServicePort(p: { name?: string; appProtocol?: string; protocol?: string }): Protocol {
  if (p.protocol === 'UDP') return 'UDP';
  const byApp = parseProtocol(p.appProtocol);
  if (byApp !== 'UNKNOWN') return byApp;
  const name = p.name ?? '';
  const prefix = name.includes('-') ? name.slice(0, name.indexOf('-')) : name;
  return parseProtocol(prefix);
}

/** True for protocols routed by an HTTP connection manager. */
export function isHttpProtocol(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-Web';
}

/** True for protocols that speak HTTP/2 upstream. */
export function isHttp2Protocol(p: Protocol): boolean {
  return p === 'HTTP2' || p === 'GRPC';
}
