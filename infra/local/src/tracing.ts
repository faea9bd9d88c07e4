/**
 * Tracing for a run: the image table with the proxies (gateway and sidecars) exporting OTLP/HTTP
 * traces to a receiver on this machine — what a cluster's mesh config tracing provider gives
 * them — and an address of this machine the pods reach through their bridge's gateway.
 */
import { networkInterfaces } from 'node:os';
import { IMAGES, type ImageEntry } from './images';

/** An IPv4 address of this machine that pods reach (not loopback, not a bridge of a run or of Docker), or undefined. */
export function hostAddress(): string | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (/^(tsm|veth|docker|br-)/.test(name)) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  return undefined;
}

/** `proxy sidecar|router …` with `--tracing-otlp <url>` (and `--trace-sampling <percent>`); other subcommands (istio-iptables) unchanged. */
export function withTracingArgs(args: string[], otlpUrl: string, samplingPercent?: number): string[] {
  const sub = args[0] === 'proxy' ? args[1] : args[0];
  if (sub !== 'sidecar' && sub !== 'router') return args;
  return [...args, '--tracing-otlp', otlpUrl, ...(samplingPercent !== undefined ? ['--trace-sampling', String(samplingPercent)] : [])];
}

/** The image table whose `tsmesh/proxy` exports traces to `otlpUrl` (pass as `LocalRuntime.start({ images })`). */
export function imagesWithTracing(otlpUrl: string, samplingPercent?: number, images: Record<string, ImageEntry> = IMAGES): Record<string, ImageEntry> {
  const proxy = images['tsmesh/proxy'];
  return {
    ...images,
    'tsmesh/proxy': { ...proxy, adaptArgs: (args, ctx) => withTracingArgs(proxy.adaptArgs ? proxy.adaptArgs(args, ctx) : args, otlpUrl, samplingPercent) },
  };
}
