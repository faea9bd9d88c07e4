/** IPv4 address arithmetic and allocation inside a /24 (pods) or a Service VIP range. */

/** Parses a dotted IPv4 address into a 32-bit unsigned number. */
export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`"${ip}" is not an IPv4 address`);
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Formats a 32-bit unsigned number as a dotted IPv4 address. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A CIDR block. */
export interface Cidr {
  base: string;
  prefix: number;
}

/** Parses `a.b.c.d/n` (the base is masked to the prefix). */
export function parseCidr(text: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new Error(`"${text}" is not an IPv4 CIDR`);
  const prefix = Number(m[2]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: intToIp((ipToInt(m[1]) & mask) >>> 0), prefix };
}

/** Whether `ip` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const mask = cidr.prefix === 0 ? 0 : (0xffffffff << (32 - cidr.prefix)) >>> 0;
  return ((ipToInt(ip) & mask) >>> 0) === ipToInt(cidr.base);
}

/** Whether two CIDRs overlap. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.base) || cidrContains(b, a.base);
}

/** `cidr` as text. */
export function formatCidr(c: Cidr): string {
  return `${c.base}/${c.prefix}`;
}

/**
 * Hands out host addresses of a block: the first is reserved (the gateway, for pod ranges),
 * released addresses are reused last-in-last-out so a restarted pod rarely gets a recent IP.
 */
export class IpPool {
  private readonly used = new Set<number>();
  private readonly first: number;
  private readonly last: number;
  private next: number;

  constructor(readonly cidr: Cidr, reserveFirst = 1) {
    const size = 2 ** (32 - cidr.prefix);
    if (size < 4) throw new Error(`${formatCidr(cidr)} is too small`);
    this.first = ipToInt(cidr.base) + 1 + reserveFirst;
    this.last = ipToInt(cidr.base) + size - 2;
    this.next = this.first;
  }

  /** The gateway address (the block's first host). */
  get gateway(): string {
    return intToIp(ipToInt(this.cidr.base) + 1);
  }

  /** Allocates a free address; throws when the block is full. */
  allocate(): string {
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const n = this.first + ((this.next - this.first + i) % span);
      if (!this.used.has(n)) {
        this.used.add(n);
        this.next = n + 1 > this.last ? this.first : n + 1;
        return intToIp(n);
      }
    }
    throw new Error(`no free address left in ${formatCidr(this.cidr)}`);
  }

  /** Returns `ip` to the pool. */
  release(ip: string): void {
    this.used.delete(ipToInt(ip));
  }

  /** How many addresses are in use. */
  get size(): number {
    return this.used.size;
  }
}
