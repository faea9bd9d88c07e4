/** Cluster DNS for pods, as hosts files: every Service's names, resolved from the pod's namespace. */

/** The cluster domain. */
export const CLUSTER_DOMAIN = 'cluster.local';

/** A Service as DNS sees it. */
export interface DnsService {
  name: string;
  namespace: string;
  vip: string;
}

/** The names of a Service seen from a pod in `fromNamespace`: FQDN, `name.ns.svc`, `name.ns`, and `name` in the same namespace. */
export function serviceNames(s: DnsService, fromNamespace: string): string[] {
  const names = [`${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}`];
  if (s.namespace === fromNamespace) names.push(s.name);
  return names;
}

/** A headless Service's endpoints as DNS sees them (from its EndpointSlices). */
export interface HeadlessService {
  name: string;
  namespace: string;
  endpoints: { ip: string; hostname?: string }[];
}

/**
 * Records of a headless Service (clusterIP None) seen from `fromNamespace`: the Service's names
 * for every endpoint IP, and `<hostname>.<svc>.<ns>.svc.cluster.local` (and shorter forms) for each
 * endpoint with a hostname — the per-pod names of a StatefulSet's pods.
 */
export function headlessRecords(h: HeadlessService, fromNamespace: string): { ip: string; names: string[] }[] {
  const svcNames = serviceNames({ ...h, vip: '' }, fromNamespace);
  return [...h.endpoints]
    .sort((a, b) => a.ip.localeCompare(b.ip))
    .map((e) => ({ ip: e.ip, names: [...(e.hostname ? svcNames.map((n) => `${e.hostname}.${n}`) : []), ...svcNames] }));
}

/** A pod's /etc/hosts: localhost, the pod's own name, every Service (headless ones by their endpoints and per-pod names). */
export function hostsFile(pod: { name: string; namespace: string; ip: string }, services: DnsService[], headless: HeadlessService[] = []): string {
  const lines = ['# Kubernetes-managed hosts file (tsmesh local runtime).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${pod.ip}\t${pod.name}`];
  const sorted = [...services].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  for (const s of sorted) lines.push(`${s.vip}\t${serviceNames(s, pod.namespace).join(' ')}`);
  for (const h of [...headless].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
    for (const r of headlessRecords(h, pod.namespace)) lines.push(`${r.ip}\t${r.names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A pod's resolv.conf, as for dnsPolicy ClusterFirst (names not in the hosts file fail fast: nothing answers on 127.0.0.1:53). */
export function resolvConf(namespace: string): string {
  return `search ${namespace}.svc.${CLUSTER_DOMAIN} svc.${CLUSTER_DOMAIN} ${CLUSTER_DOMAIN}\nnameserver 127.0.0.1\noptions ndots:5 attempts:1 timeout:1\n`;
}

/**
 * A pod's nsswitch.conf: the host's, with hosts looked up in the hosts file only, so a name that is
 * no Service fails at once with "not found" (NXDOMAIN on a cluster) instead of timing out on a DNS server.
 */
export function nsswitchConf(hostText: string): string {
  const lines = hostText.split('\n').filter((l) => !/^\s*hosts\s*:/.test(l));
  return `${lines.join('\n').trimEnd()}\nhosts: files\n`;
}
