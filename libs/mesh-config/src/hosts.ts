/** Host names as Istio resolves them: short names, namespaced names, FQDNs and wildcards. */

/** The default DNS domain suffix of a cluster. */
export const DEFAULT_DOMAIN = 'cluster.local';

/**
 * Resolves a host written in a resource of `namespace` to its FQDN: a short name (`reviews`)
 * becomes `reviews.<namespace>.svc.<domain>`; `reviews.prod` and `reviews.prod.svc` are completed
 * too; FQDNs and wildcards are kept. `ns/host` references drop the namespace part.
 */
export function resolveHost(host: string, namespace: string, domain = DEFAULT_DOMAIN): string {
  const h = host.includes('/') ? host.slice(host.indexOf('/') + 1) : host;
  if (h === '*' || h.startsWith('*.')) return h;
  const parts = h.split('.');
  if (parts.length === 1) return `${h}.${namespace}.svc.${domain}`;
  if (parts.length === 2 && !isIpOrDomainLike(parts[1])) return `${h}.svc.${domain}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${h}.${domain}`;
  return h;
}

function isIpOrDomainLike(label: string): boolean {
  return /^\d+$/.test(label) || ['com', 'org', 'net', 'io', 'dev', 'local', 'internal'].includes(label);
}

/** True when `pattern` (`*`, `*.example.com`, or exact) matches `host`. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) || (host.startsWith('*.') && host.endsWith(pattern.slice(1)));
  if (host.startsWith('*.')) return pattern.endsWith(host.slice(1));
  return false;
}

/** True when two host patterns can match a common host. */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** Splits a Gateway server host `ns/host` (`./host` is the Gateway's namespace, `*` any). */
export function splitNamespacedHost(h: string, ownNamespace: string): { namespace: string; host: string } {
  const slash = h.indexOf('/');
  if (slash < 0) return { namespace: '*', host: h };
  const ns = h.slice(0, slash);
  return { namespace: ns === '.' ? ownNamespace : ns, host: h.slice(slash + 1) };
}

/** Resolves a Gateway reference of a VirtualService (`name` or `ns/name`; `mesh` kept) to `ns/name`. */
export function resolveGatewayRef(ref: string, namespace: string): string {
  if (ref === 'mesh') return ref;
  if (ref.includes('/')) return ref;
  const dot = ref.indexOf('.');
  // Istio also accepts `name.namespace.svc.cluster.local` style references.
  if (dot > 0) return `${ref.slice(dot + 1).split('.')[0]}/${ref.slice(0, dot)}`;
  return `${namespace}/${ref}`;
}
