/** Envoy's filter chain selection: the most specific match, criterion by criterion. */
import { cidrContains, type ChainSpec, type ListenerSpec } from '../config/listener';

/** What a connection offers for chain matching. */
export interface ConnectionFacts {
  destinationIp: string;
  destinationPort: number;
  sourceIp: string;
  /** 'raw_buffer' or 'tls' (when inspected). */
  transportProtocol: string;
  /** Plaintext: 'http/1.1' or 'h2c' (HTTP inspector); TLS: the ALPN protocols offered (TLS inspector). */
  applicationProtocols: readonly string[];
  /** SNI of a TLS ClientHello ('' when none). */
  serverName: string;
}

function narrow<T>(items: T[], score: (x: T) => number): T[] {
  let best = -1;
  for (const x of items) best = Math.max(best, score(x));
  if (best < 0) return [];
  return items.filter((x) => score(x) === best);
}

/** Envoy's server name match: exact beats the longest `*.suffix` wildcard; chains without names match anything (score 0). */
function serverNameScore(names: readonly string[], sni: string): number {
  if (!names.length) return 0;
  let best = -1;
  const host = sni.toLowerCase();
  for (const n of names) {
    const name = n.toLowerCase();
    if (name === host) return 1_000_000;
    if (name.startsWith('*.') && host.endsWith(name.slice(1)) && host.length > name.length - 1) best = Math.max(best, name.length);
  }
  return best;
}

function prefixScore(c: ChainSpec['match']['prefixRanges'], ip: string): number {
  if (!c.length) return 0;
  let best = -1;
  for (const r of c) if (cidrContains(r, ip)) best = Math.max(best, r.bits + 1);
  return best;
}

/** Selects the filter chain for a connection, or the default chain, or null. */
export function selectChain(l: ListenerSpec, f: ConnectionFacts): ChainSpec | null {
  let cs = l.chains;
  if (cs.length) {
    cs = narrow(cs, (c) => (c.match.destinationPort === f.destinationPort ? 1 : c.match.destinationPort === 0 ? 0 : -1));
    cs = narrow(cs, (c) => prefixScore(c.match.prefixRanges, f.destinationIp));
    cs = narrow(cs, (c) => serverNameScore(c.match.serverNames, f.serverName));
    cs = narrow(cs, (c) => (c.match.transportProtocol === f.transportProtocol ? 1 : c.match.transportProtocol === '' ? 0 : -1));
    cs = narrow(cs, (c) => (c.match.applicationProtocols.some((p) => f.applicationProtocols.includes(p)) ? 1 : c.match.applicationProtocols.length === 0 ? 0 : -1));
    cs = narrow(cs, (c) => prefixScore(c.match.sourcePrefixRanges, f.sourceIp));
  }
  return cs[0] ?? l.defaultChain;
}
