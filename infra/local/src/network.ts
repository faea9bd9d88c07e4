/**
 * The host side of the runtime's network: one bridge per run with a /24 of pod addresses, one
 * network namespace and veth pair per pod, and kube-proxy-style Service VIPs (iptables DNAT in
 * the nat table, in chains of the run's own, jumped to from PREROUTING and OUTPUT).
 */
import { mkdir, open, rm, rmdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run, tryRun } from './exec';
import { cidrsOverlap, formatCidr, IpPool, parseCidr, type Cidr } from './ipam';
import type { RunNames } from './names';

/** Where `ip netns exec` finds per-namespace /etc files (hosts, resolv.conf). */
export const NETNS_ETC = '/etc/netns';

/** One Service port as kube-proxy programs it. */
export interface ServiceRule {
  /** `namespace/name:port`, for comments. */
  key: string;
  vip: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  /** Ready endpoints (pod IP and target port). */
  endpoints: { ip: string; port: number }[];
}

/** A pod's network: its namespace, veth and address. */
export interface PodNetwork {
  netns: string;
  ip: string;
  vethHost: string;
  /** Directory bind-mounted over /etc by `ip netns exec` (hosts, resolv.conf). */
  etcDir: string;
}

/** Addresses of the host's IPv4 interfaces and routes, to pick blocks nobody uses. */
async function usedCidrs(): Promise<Cidr[]> {
  const out: Cidr[] = [];
  const routes = JSON.parse(await run(['ip', '-j', '-4', 'route', 'show', 'table', 'all'])) as { dst?: string }[];
  for (const r of routes) {
    if (!r.dst || r.dst === 'default') continue;
    try {
      out.push(parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`));
    } catch {
      // not an IPv4 prefix (broadcast/local entries are fine to skip)
    }
  }
  return out;
}

/** Blocks chosen by runs of this process, so two runtimes started at once never pick the same one. */
const reservedHere = new Set<number>();

/** Options of {@link HostNetwork.create}. */
export interface HostNetworkOptions {
  /** Pod block; default: a free 10.244.<k>.0/24. */
  podCidr?: string;
  /** Service VIP block; default: 10.96.<k>.0/24 with the same k. */
  serviceCidr?: string;
}

/** The run's bridge, address pools and iptables chains. */
export class HostNetwork {
  readonly pods: IpPool;
  readonly vips: IpPool;
  private vethCount = 0;
  private readonly podNets = new Map<string, PodNetwork>();
  /** The hosts file last written per pod network namespace. */
  private readonly hostsWritten = new Map<string, string>();
  private readonly hostsChains = new Map<string, Promise<unknown>>();
  private serviceChains: string[] = [];
  private closed = false;
  /** The k of 10.244.k.0/24 this run reserved in this process. */
  private block: number | undefined;

  private constructor(readonly names: RunNames, podCidr: Cidr, serviceCidr: Cidr) {
    this.pods = new IpPool(podCidr, 1);
    this.vips = new IpPool(serviceCidr, 0);
  }

  /** Creates the bridge and the run's chains; on failure removes what it made. */
  static async create(names: RunNames, opts: HostNetworkOptions = {}): Promise<HostNetwork> {
    const skip = new Set<number>();
    for (let attempt = 0; ; attempt++) {
      const net = await HostNetwork.createOnce(names, opts, skip);
      if (opts.podCidr || !(await net.collides())) return net;
      // Another process took the same block in the same instant: give it up and pick another.
      skip.add(net.block!);
      await net.close();
      if (attempt >= 5) throw new Error('could not find a free pod block after 6 attempts');
    }
  }

  /** Whether another interface routes this run's pod or VIP block. */
  private async collides(): Promise<boolean> {
    const routes = JSON.parse(await run(['ip', '-j', '-4', 'route', 'show', 'table', 'main'])) as { dst?: string; dev?: string }[];
    return routes.some((r) => (r.dst === this.podCidr || r.dst === this.serviceCidr) && r.dev !== this.names.bridge);
  }

  private static async createOnce(names: RunNames, opts: HostNetworkOptions, skip: Set<number>): Promise<HostNetwork> {
    let podCidr: Cidr;
    let serviceCidr: Cidr;
    const used = await usedCidrs();
    if (opts.podCidr) {
      podCidr = parseCidr(opts.podCidr);
      serviceCidr = parseCidr(opts.serviceCidr ?? '10.96.0.0/24');
    } else {
      // Start from a block derived from the run id so parallel runs rarely probe the same one.
      let h = 0;
      for (const c of names.id) h = (h * 31 + c.charCodeAt(0)) & 0xff;
      let k = -1;
      for (let i = 0; i < 256; i++) {
        const cand = (h + i) & 0xff;
        const p = parseCidr(`10.244.${cand}.0/24`);
        const s = parseCidr(`10.96.${cand}.0/24`);
        if (!skip.has(cand) && !reservedHere.has(cand) && !used.some((u) => u.prefix > 8 && (cidrsOverlap(u, p) || cidrsOverlap(u, s)))) {
          k = cand;
          reservedHere.add(k);
          break;
        }
      }
      if (k < 0) throw new Error('no free /24 left in 10.244.0.0/16');
      podCidr = parseCidr(`10.244.${k}.0/24`);
      serviceCidr = parseCidr(opts.serviceCidr ?? `10.96.${k}.0/24`);
    }
    const net = new HostNetwork(names, podCidr, serviceCidr);
    net.block = opts.podCidr ? undefined : Number(podCidr.base.split('.')[2]);
    try {
      await net.setup();
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  /** The pod block, e.g. `10.244.7.0/24`. */
  get podCidr(): string {
    return formatCidr(this.pods.cidr);
  }
  /** The VIP block, e.g. `10.96.7.0/24`. */
  get serviceCidr(): string {
    return formatCidr(this.vips.cidr);
  }
  /** The bridge's address: the pods' default gateway, and the source of host-originated traffic. */
  get gateway(): string {
    return this.pods.gateway;
  }

  private async setup(): Promise<void> {
    const br = this.names.bridge;
    const [svc, post, fwd, rej] = [this.names.servicesChain, this.names.postroutingChain, this.names.forwardChain, this.names.rejectChain];
    await run(['ip', '-batch', '-'], {
      input: [
        `link add ${br} type bridge`,
        `addr add ${this.gateway}/${this.pods.cidr.prefix} dev ${br}`,
        `link set ${br} up`,
        // VIPs are routed to the bridge so host-originated traffic leaves with the bridge address.
        `route add ${this.serviceCidr} dev ${br}`,
        '',
      ].join('\n'),
    });
    // Forwarding only for packets arriving on this bridge (pod → VIP → pod); the host-wide switch stays as it is.
    await writeFile(`/proc/sys/net/ipv4/conf/${br}/forwarding`, '1');
    // The run's chains and the jumps to them, in one atomic iptables-restore.
    await run(['iptables-restore', '-w', '--noflush'], {
      input: [
        '*nat',
        `:${svc} - [0:0]`,
        `:${post} - [0:0]`,
        `-I PREROUTING 1 -d ${this.serviceCidr} -j ${svc}`,
        `-I OUTPUT 1 -d ${this.serviceCidr} -j ${svc}`,
        `-I POSTROUTING 1 -s ${this.podCidr} -j ${post}`,
        'COMMIT',
        '*filter',
        `:${fwd} - [0:0]`,
        `:${rej} - [0:0]`,
        `-I OUTPUT 1 -d ${this.serviceCidr} -j ${rej}`,
        `-I FORWARD 1 -i ${br} -j ${fwd}`,
        `-A ${fwd} -d ${this.serviceCidr} -j ${rej}`,
        `-A ${fwd} -i ${br} -o ${br} -j ACCEPT`,
        'COMMIT',
        '',
      ].join('\n'),
    });
  }

  /** Creates a pod's namespace, veth pair (eth0 inside), address, routes and /etc/netns files. */
  async addPod(namespace: string, pod: string, files: { hosts: string; resolvConf: string; nsswitch?: string }): Promise<PodNetwork> {
    const netns = this.names.netns(namespace, pod);
    const ip = this.pods.allocate();
    const vethHost = this.names.vethHost(this.vethCount++);
    const etcDir = join(NETNS_ETC, netns);
    const pn: PodNetwork = { netns, ip, vethHost, etcDir };
    this.podNets.set(netns, pn);
    try {
      await mkdir(etcDir, { recursive: true });
      await writeFile(join(etcDir, 'hosts'), files.hosts);
      this.hostsWritten.set(netns, files.hosts);
      await writeFile(join(etcDir, 'resolv.conf'), files.resolvConf);
      if (files.nsswitch !== undefined) await writeFile(join(etcDir, 'nsswitch.conf'), files.nsswitch);
      await run(['ip', 'netns', 'add', netns]);
      // Hairpin mode, as the CNI bridge plugin sets for Kubernetes: a pod reaching itself through its VIP is sent back out its own port.
      await run(['ip', '-batch', '-'], {
        input: [`link add ${vethHost} type veth peer name eth0 netns ${netns}`, `link set ${vethHost} master ${this.names.bridge} up`, `link set ${vethHost} type bridge_slave hairpin on`, ''].join('\n'),
      });
      await run(['ip', '-n', netns, '-batch', '-'], {
        input: ['link set lo up', `addr add ${ip}/${this.pods.cidr.prefix} dev eth0`, 'link set eth0 up', `route add default via ${this.gateway}`, ''].join('\n'),
      });
      // Hairpin: a pod that reaches itself through its Service leaves with the gateway's address.
      await run(['iptables', '-w', '-t', 'nat', '-A', this.names.postroutingChain, '-s', `${ip}/32`, '-d', `${ip}/32`, '-j', 'MASQUERADE']);
    } catch (err) {
      await this.removePod(netns);
      throw err;
    }
    return pn;
  }

  /**
   * Rewrites a pod's hosts file in place (processes see it at once: `ip netns exec` and the
   * containers bind-mount the same inode, so it cannot be replaced by a rename). Unchanged content
   * is not written; new content is written over the old and the file cut to its length after, never
   * truncated first — a lookup in the pod meanwhile reads old or new lines, not an empty file
   * (which fails every name with ENOTFOUND).
   */
  updateHosts(pn: PodNetwork, hosts: string): Promise<void> {
    // One write at a time per file (the kubelet's first write and cluster DNS's refresh may meet).
    const next = (this.hostsChains.get(pn.netns) ?? Promise.resolve()).then(() => this.writeHosts(pn, hosts));
    const settled = next.catch(() => undefined);
    this.hostsChains.set(pn.netns, settled);
    void settled.then(() => this.hostsChains.get(pn.netns) === settled && this.hostsChains.delete(pn.netns));
    return next;
  }

  private async writeHosts(pn: PodNetwork, hosts: string): Promise<void> {
    if (this.hostsWritten.get(pn.netns) === hosts) return;
    const file = join(pn.etcDir, 'hosts');
    const buf = Buffer.from(hosts);
    const fh = await open(file, existsSync(file) ? 'r+' : 'w');
    try {
      await fh.write(buf, 0, buf.length, 0);
      await fh.truncate(buf.length);
    } finally {
      await fh.close();
    }
    this.hostsWritten.set(pn.netns, hosts);
  }

  /** Removes a pod's namespace, veth, hairpin rule and /etc/netns directory (each step best effort). */
  async removePod(netns: string): Promise<void> {
    const pn = this.podNets.get(netns);
    if (!pn) return;
    this.podNets.delete(netns);
    this.hostsWritten.delete(netns);
    await tryRun(['iptables', '-w', '-t', 'nat', '-D', this.names.postroutingChain, '-s', `${pn.ip}/32`, '-d', `${pn.ip}/32`, '-j', 'MASQUERADE']);
    await tryRun(['ip', 'link', 'del', pn.vethHost]);
    await tryRun(['ip', 'netns', 'del', netns]);
    await rm(pn.etcDir, { recursive: true, force: true });
    this.pods.release(pn.ip);
  }

  /** Programs the Service VIPs: one chain per Service port, random-probability DNAT to its endpoints (kube-proxy's iptables mode). */
  async syncServices(rules: ServiceRule[]): Promise<void> {
    if (this.closed) return;
    const svc = this.names.servicesChain;
    const lines = ['*nat', `:${svc} - [0:0]`];
    const chains: string[] = [];
    const body: string[] = [];
    const rejects: string[] = [];
    rules.forEach((r, i) => {
      const chain = this.names.serviceChain(i);
      chains.push(chain);
      lines.push(`:${chain} - [0:0]`);
      const proto = r.protocol.toLowerCase();
      body.push(`-A ${svc} -d ${r.vip}/32 -p ${proto} -m ${proto} --dport ${r.port} -m comment --comment "${r.key}" -j ${chain}`);
      const n = r.endpoints.length;
      if (n === 0) {
        body.push(`-A ${chain} -m comment --comment "${r.key} has no endpoints" -j RETURN`);
        // As kube-proxy: a Service port without endpoints refuses connections at once.
        rejects.push(`-A ${this.names.rejectChain} -d ${r.vip}/32 -p ${proto} -m ${proto} --dport ${r.port} -m comment --comment "${r.key} has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
      }
      r.endpoints.forEach((e, j) => {
        const left = n - j;
        const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
        body.push(`-A ${chain} -p ${proto}${stat} -j DNAT --to-destination ${e.ip}:${e.port}`);
      });
    });
    const stale = this.serviceChains.filter((c) => !chains.includes(c));
    for (const c of stale) lines.push(`:${c} - [0:0]`);
    lines.push(...body);
    for (const c of stale) lines.push(`-X ${c}`);
    lines.push('COMMIT', '*filter', `:${this.names.rejectChain} - [0:0]`, ...rejects, 'COMMIT', '');
    await run(['iptables-restore', '-w', '--noflush'], { input: lines.join('\n') });
    this.serviceChains = chains;
  }

  private watchSeq = 0;

  /**
   * Counts packets crossing the bridge (pod ↔ pod, pod ↔ VIP ↔ pod) whose payload contains
   * `pattern` (iptables `string` match in the run's FORWARD chain); e.g. plaintext HTTP between
   * pods that should speak mTLS. Returns a reader of the packet count and a remover.
   */
  async watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }> {
    if (pattern.includes('"')) throw new Error('watchWire: the pattern must not contain double quotes');
    const comment = `tsmesh wire watch ${++this.watchSeq}`;
    const spec = ['-m', 'string', '--algo', 'bm', '--string', pattern, '-m', 'comment', '--comment', comment];
    await run(['iptables', '-w', '-t', 'filter', '-I', this.names.forwardChain, '1', ...spec]);
    return {
      packets: async () => {
        const out = await run(['iptables', '-w', '-t', 'filter', '-L', this.names.forwardChain, '-n', '-v', '-x']);
        const line = out.split('\n').find((l) => l.includes(`/* ${comment} */`));
        return line ? Number(line.trim().split(/\s+/)[0]) : 0;
      },
      remove: async () => {
        await tryRun(['iptables', '-w', '-t', 'filter', '-D', this.names.forwardChain, ...spec]);
      },
    };
  }

  /** Pod networks currently set up. */
  podNetworks(): PodNetwork[] {
    return [...this.podNets.values()];
  }

  /** Removes every pod network, the chains, their jump rules and the bridge. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    for (const netns of [...this.podNets.keys()]) await this.removePod(netns);
    await removeRunNetwork(this.names, { podCidr: this.podCidr, serviceCidr: this.serviceCidr, chains: this.serviceChains });
    if (this.block !== undefined) reservedHere.delete(this.block);
  }
}

/** Removes a run's jump rules, chains and bridge (best effort; used by close and by cleanup). */
export async function removeRunNetwork(names: RunNames, known: { podCidr?: string; serviceCidr?: string; chains?: string[] } = {}): Promise<void> {
  const [svc, post, fwd, rej] = [names.servicesChain, names.postroutingChain, names.forwardChain, names.rejectChain];
  await deleteJumps('nat', ['PREROUTING', 'OUTPUT', 'POSTROUTING'], [svc, post]);
  await deleteJumps('filter', ['FORWARD', 'OUTPUT'], [fwd, rej]);
  const natChains = await listChains('nat');
  const ours = natChains.filter((c) => c.startsWith(`${svc.slice(0, -3)}`));
  for (const c of ours) await tryRun(['iptables', '-w', '-t', 'nat', '-F', c]);
  for (const c of ours) await tryRun(['iptables', '-w', '-t', 'nat', '-X', c]);
  for (const c of known.chains ?? []) await tryRun(['iptables', '-w', '-t', 'nat', '-X', c]);
  for (const c of [fwd, rej]) await tryRun(['iptables', '-w', '-t', 'filter', '-F', c]);
  for (const c of [fwd, rej]) await tryRun(['iptables', '-w', '-t', 'filter', '-X', c]);
  if (existsSync(`/sys/class/net/${names.bridge}`)) await tryRun(['ip', 'link', 'del', names.bridge]);
  await rmdir(NETNS_ETC).catch(() => undefined);
}

/** Names of the chains of `table`. */
export async function listChains(table: string): Promise<string[]> {
  const out = await run(['iptables', '-w', '-t', table, '-S']);
  return out.split('\n').filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim());
}

/** Deletes every rule in `builtins` of `table` that jumps to one of `targets`. */
async function deleteJumps(table: string, builtins: string[], targets: string[]): Promise<void> {
  for (const chain of builtins) {
    const out = await run(['iptables', '-w', '-t', table, '-S', chain]).catch(() => '');
    for (const line of out.split('\n')) {
      const m = /-j (\S+)$/.exec(line.trim());
      if (!line.startsWith('-A ') || !m || !targets.includes(m[1])) continue;
      const spec = splitRule(line.trim().slice(3));
      await tryRun(['iptables', '-w', '-t', table, '-D', ...spec]);
    }
  }
}

/** Splits an `iptables -S` rule into argv, honouring double quotes. */
export function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rule))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}
