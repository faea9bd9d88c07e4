/**
 * Envoy's `server_names` filter chain match, for gateways serving several hosts on one port:
 * an exact name wins over a wildcard (`*.example.com`), a longer wildcard suffix over a shorter,
 * and a chain with no server names catches what no name matched. Names compare case-insensitively.
 */

/** How well `serverNames` matches `sni`: -1 no match, 0 catch-all, higher is more specific. */
export function sniScore(serverNames: readonly string[], sni: string): number {
  if (!serverNames.length) return 0;
  if (!sni) return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const raw of serverNames) {
    const n = raw.toLowerCase();
    if (n === host) return 1_000_000;
    if (n.startsWith('*.') && host.length > n.length - 1 && host.endsWith(n.slice(1))) best = Math.max(best, n.length);
    else if (n.startsWith('.') && host.endsWith(n)) best = Math.max(best, n.length);
  }
  return best;
}

/** The item whose server names match `sni` best, or null. */
export function selectBySni<T extends { serverNames: readonly string[] }>(items: readonly T[], sni: string): T | null {
  let best: T | null = null;
  let score = -1;
  for (const it of items) {
    const s = sniScore(it.serverNames, sni);
    if (s > score) {
      score = s;
      best = it;
    }
  }
  return best;
}
