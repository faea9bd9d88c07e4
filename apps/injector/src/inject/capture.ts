import { isIPv4, isIPv6 } from 'node:net';
import { InvalidPodError } from '../errors';
import { ANNOTATION, PORTS, PROXY_UID } from './names';

/** Checks a comma-separated CIDR list (`*` allowed where `allowStar`); returns it normalised. */
function cidrList(resource: string, annotation: string, value: string, allowStar: boolean): string {
  const trimmed = value.trim();
  if (trimmed === '') return '';
  if (trimmed === '*') {
    if (allowStar) return '*';
    throw new InvalidPodError(resource, `metadata.annotations[${annotation}]`, '"*" is not allowed here');
  }
  const items = trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    const [ip, bits, extra] = item.split('/');
    const max = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : -1;
    const n = bits === undefined ? max : Number(bits);
    if (max < 0 || extra !== undefined || !Number.isInteger(n) || n < 0 || n > max || (bits !== undefined && !/^\d+$/.test(bits))) {
      throw new InvalidPodError(resource, `metadata.annotations[${annotation}]`, `"${item}" is not an IP range in CIDR notation`);
    }
  }
  return items.join(',');
}

/** Checks a comma-separated port list (`*` allowed where `allowStar`); returns it normalised. */
function portList(resource: string, annotation: string, value: string, allowStar: boolean): string {
  const trimmed = value.trim();
  if (trimmed === '') return '';
  if (trimmed === '*') {
    if (allowStar) return '*';
    throw new InvalidPodError(resource, `metadata.annotations[${annotation}]`, '"*" is not allowed here');
  }
  const items = trimmed.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    const n = Number(item);
    if (!/^\d+$/.test(item) || n < 1 || n > 65535) {
      throw new InvalidPodError(resource, `metadata.annotations[${annotation}]`, `"${item}" is not a port number (1-65535)`);
    }
  }
  return items.join(',');
}

/**
 * The `istio-iptables` arguments for a pod: outbound to 15001, inbound to 15006, the proxy's UID
 * exempt, the proxy's own ports (15090, 15021, 15020) never captured inbound, narrowed or widened by
 * Istio's `traffic.sidecar.istio.io/*` annotations. Throws {@link InvalidPodError} on a bad value.
 */
export function captureArgs(resource: string, annotations: Record<string, string>): string[] {
  const read = (name: string) => annotations[name];
  const includeOutboundIPRanges = cidrList(resource, ANNOTATION.includeOutboundIPRanges, read(ANNOTATION.includeOutboundIPRanges) ?? '*', true);
  const excludeOutboundIPRanges = cidrList(resource, ANNOTATION.excludeOutboundIPRanges, read(ANNOTATION.excludeOutboundIPRanges) ?? '', false);
  const includeInboundPorts = portList(resource, ANNOTATION.includeInboundPorts, read(ANNOTATION.includeInboundPorts) ?? '*', true);
  const userExcludedInbound = portList(resource, ANNOTATION.excludeInboundPorts, read(ANNOTATION.excludeInboundPorts) ?? '', false);
  const excludeOutboundPorts = portList(resource, ANNOTATION.excludeOutboundPorts, read(ANNOTATION.excludeOutboundPorts) ?? '', false);
  const includeOutboundPorts = portList(resource, ANNOTATION.includeOutboundPorts, read(ANNOTATION.includeOutboundPorts) ?? '', false);

  const proxyPorts = [PORTS.proxyPrometheus, PORTS.readiness, PORTS.mergedMetrics].map(String);
  const excludedInbound = [...new Set([...proxyPorts, ...(userExcludedInbound ? userExcludedInbound.split(',') : [])])].join(',');

  const args = [
    'istio-iptables',
    '-p', String(PORTS.outboundCapture),
    '-z', String(PORTS.inboundCapture),
    '-u', String(PROXY_UID),
    '-m', 'REDIRECT',
    '-i', includeOutboundIPRanges,
    '-x', excludeOutboundIPRanges,
    '-b', includeInboundPorts,
    '-d', excludedInbound,
  ];
  if (excludeOutboundPorts) args.push('-o', excludeOutboundPorts);
  if (includeOutboundPorts) args.push('-q', includeOutboundPorts);
  return args;
}
