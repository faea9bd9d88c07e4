/**
 * The `istio-iptables` rules the init container runs in the pod's network namespace (Istio's
 * flags and chain names): inbound TCP → 15006, outbound TCP → 15001, the proxy's own traffic
 * (UID/GID 1337) and loopback excluded, with include/exclude lists for ports and CIDRs.
 */
import { execFileSync } from 'node:child_process';

/** Options, named after Istio's flags. */
export interface IptablesOptions {
  /** -p: outbound capture port. */
  proxyPort: number;
  /** -z: inbound capture port. */
  inboundPort: number;
  /** -u: UIDs whose traffic is not captured. */
  uids: string[];
  /** -g: GIDs whose traffic is not captured. */
  gids: string[];
  /** -m: REDIRECT (TPROXY is not supported). */
  mode: 'REDIRECT';
  /** -i: outbound CIDRs to capture ('*' for all). */
  includeOutboundCidrs: string[];
  /** -x: outbound CIDRs never captured. */
  excludeOutboundCidrs: string[];
  /** -b: inbound ports to capture ('*' for all). */
  includeInboundPorts: string[];
  /** -d: inbound ports never captured (with '*'). */
  excludeInboundPorts: string[];
  /** -o: outbound ports never captured. */
  excludeOutboundPorts: string[];
  /** -q: outbound ports always captured, even to excluded CIDRs. */
  includeOutboundPorts: string[];
}

/** Istio's defaults. */
export const DEFAULT_IPTABLES: IptablesOptions = {
  proxyPort: 15001,
  inboundPort: 15006,
  uids: ['1337'],
  gids: ['1337'],
  mode: 'REDIRECT',
  includeOutboundCidrs: ['*'],
  excludeOutboundCidrs: [],
  includeInboundPorts: ['*'],
  excludeInboundPorts: [],
  excludeOutboundPorts: [],
  includeOutboundPorts: [],
};

/** Splits a comma list (empty string → []). */
export function list(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** The iptables commands (nat table) as argument vectors, in order. */
export function iptablesRules(o: IptablesOptions): string[][] {
  const r: string[][] = [];
  const nat = (...a: string[]) => r.push(['-t', 'nat', ...a]);
  for (const c of ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT']) nat('-N', c);
  nat('-A', 'ISTIO_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.proxyPort));
  nat('-A', 'ISTIO_IN_REDIRECT', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.inboundPort));
  // inbound
  if (o.includeInboundPorts.length) {
    nat('-A', 'PREROUTING', '-p', 'tcp', '-j', 'ISTIO_INBOUND');
    if (o.includeInboundPorts.includes('*')) {
      for (const p of ['15008', '22', '15090', '15021', '15020', ...o.excludeInboundPorts]) nat('-A', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', p, '-j', 'RETURN');
      nat('-A', 'ISTIO_INBOUND', '-p', 'tcp', '-j', 'ISTIO_IN_REDIRECT');
    } else {
      for (const p of o.includeInboundPorts) nat('-A', 'ISTIO_INBOUND', '-p', 'tcp', '--dport', p, '-j', 'ISTIO_IN_REDIRECT');
    }
  }
  // outbound
  nat('-A', 'OUTPUT', '-p', 'tcp', '-j', 'ISTIO_OUTPUT');
  for (const p of o.excludeOutboundPorts) nat('-A', 'ISTIO_OUTPUT', '-p', 'tcp', '--dport', p, '-j', 'RETURN');
  nat('-A', 'ISTIO_OUTPUT', '-o', 'lo', '-s', '127.0.0.6/32', '-j', 'RETURN');
  for (const uid of o.uids) {
    // the proxy calling its own pod IP goes back through inbound; other loopback traffic of the proxy is left alone
    nat('-A', 'ISTIO_OUTPUT', '-o', 'lo', '!', '-d', '127.0.0.1/32', '-p', 'tcp', '!', '--dport', '15008', '-m', 'owner', '--uid-owner', uid, '-j', 'ISTIO_IN_REDIRECT');
    nat('-A', 'ISTIO_OUTPUT', '-o', 'lo', '-m', 'owner', '!', '--uid-owner', uid, '-j', 'RETURN');
    nat('-A', 'ISTIO_OUTPUT', '-m', 'owner', '--uid-owner', uid, '-j', 'RETURN');
  }
  for (const gid of o.gids) {
    nat('-A', 'ISTIO_OUTPUT', '-o', 'lo', '!', '-d', '127.0.0.1/32', '-p', 'tcp', '!', '--dport', '15008', '-m', 'owner', '--gid-owner', gid, '-j', 'ISTIO_IN_REDIRECT');
    nat('-A', 'ISTIO_OUTPUT', '-o', 'lo', '-m', 'owner', '!', '--gid-owner', gid, '-j', 'RETURN');
    nat('-A', 'ISTIO_OUTPUT', '-m', 'owner', '--gid-owner', gid, '-j', 'RETURN');
  }
  nat('-A', 'ISTIO_OUTPUT', '-d', '127.0.0.1/32', '-j', 'RETURN');
  for (const p of o.includeOutboundPorts) nat('-A', 'ISTIO_OUTPUT', '-p', 'tcp', '--dport', p, '-j', 'ISTIO_REDIRECT');
  for (const c of o.excludeOutboundCidrs) nat('-A', 'ISTIO_OUTPUT', '-d', c, '-j', 'RETURN');
  if (o.includeOutboundCidrs.includes('*')) nat('-A', 'ISTIO_OUTPUT', '-j', 'ISTIO_REDIRECT');
  else for (const c of o.includeOutboundCidrs) nat('-A', 'ISTIO_OUTPUT', '-d', c, '-j', 'ISTIO_REDIRECT');
  return r;
}

/** Commands that remove the rules (Istio's clean-up), tolerant of missing chains. */
export function cleanupRules(): string[][] {
  const r: string[][] = [];
  r.push(['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'ISTIO_INBOUND']);
  r.push(['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-j', 'ISTIO_OUTPUT']);
  for (const c of ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT']) {
    r.push(['-t', 'nat', '-F', c]);
    r.push(['-t', 'nat', '-X', c]);
  }
  return r;
}

/** Renders commands as shell lines (for --dry-run). */
export function render(rules: string[][]): string {
  return rules.map((a) => `iptables ${a.join(' ')}`).join('\n');
}

/** Runs the rules with the `iptables` binary; cleanup errors (missing chains) are ignored. */
export function runIptables(rules: string[][], opts: { ignoreErrors?: boolean } = {}): void {
  for (const a of rules) {
    try {
      execFileSync('iptables', ['-w', ...a], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      if (!opts.ignoreErrors) throw new Error(`iptables ${a.join(' ')}: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`);
    }
  }
}
