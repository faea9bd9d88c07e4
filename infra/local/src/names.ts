/**
 * Names of everything the runtime creates on the host. All start with {@link PREFIX} and carry
 * the run id `<pid base36>-<instance>`, so parallel runs never collide and `cleanup` can
 * tell a crashed run's leftovers (its pid is gone) from a live run's.
 */

/** Prefix of every interface, network namespace and iptables chain the runtime creates. */
export const PREFIX = 'tsm';

let instances = 0;

/** A fresh run id for this process. */
export function newRunId(pid = process.pid): string {
  return `${pid.toString(36)}-${instances++ % 1000}`;
}

/** The pid encoded in a run id, or undefined when `id` is not one. */
export function pidOfRunId(id: string): number | undefined {
  const m = /^([0-9a-z]+)-[0-9]+$/.exec(id);
  return m ? parseInt(m[1], 36) : undefined;
}

/** Host-side names of one run. Interface names stay within Linux's 15 characters. */
export class RunNames {
  constructor(readonly id: string) {
    if (!/^[0-9a-z]{1,5}-[0-9]{1,3}$/.test(id)) throw new Error(`run id "${id}" must be <pid base36>-<n>`);
  }
  /** The bridge, e.g. `tsm1k2-0`. */
  get bridge(): string {
    return `${PREFIX}${this.id}`;
  }
  /** Host end of pod `n`'s veth pair, e.g. `tsm1k2-0v1f`. */
  vethHost(n: number): string {
    return `${PREFIX}${this.id}v${n.toString(36)}`;
  }
  /** A pod's network namespace (also its /etc/netns directory). */
  netns(namespace: string, pod: string): string {
    return `${PREFIX}-${this.id}-${namespace}-${pod}`.slice(0, 200);
  }
  /** The nat-table chain holding the Service VIP rules (jumped to from PREROUTING and OUTPUT). */
  get servicesChain(): string {
    return `${PREFIX.toUpperCase()}-${this.id}-SVC`;
  }
  /** The nat-table POSTROUTING chain (hairpin masquerade). */
  get postroutingChain(): string {
    return `${PREFIX.toUpperCase()}-${this.id}-POST`;
  }
  /** The filter-table FORWARD chain accepting traffic on the run's bridge. */
  get forwardChain(): string {
    return `${PREFIX.toUpperCase()}-${this.id}-FWD`;
  }
  /** The filter-table chain rejecting connections to Service ports without endpoints (jumped to from FORWARD and OUTPUT). */
  get rejectChain(): string {
    return `${PREFIX.toUpperCase()}-${this.id}-REJ`;
  }
  /** Per-Service chain, `TSM-<id>-S<n>` (iptables chain names stay within 28 characters). */
  serviceChain(n: number): string {
    return `${PREFIX.toUpperCase()}-${this.id}-S${n.toString(36)}`;
  }
}

/** The run id inside a name the runtime created (interface, netns or chain), if it is one. */
export function runIdOfName(name: string): string | undefined {
  const m = /^tsm-?([0-9a-z]{1,5}-[0-9]{1,3})(?:v[0-9a-z]+|-.*)?$/i.exec(name);
  return m ? m[1].toLowerCase() : undefined;
}
