import { describe, expect, it } from 'vitest';
import { DEFAULT_IPTABLES, iptablesRules, render } from './iptables';

describe('istio-iptables rules', () => {
  it('redirects inbound to 15006 and outbound to 15001, excluding UID 1337 and the excluded ports', () => {
    const text = render(iptablesRules({ ...DEFAULT_IPTABLES, excludeInboundPorts: ['15090', '15021'], excludeOutboundCidrs: ['10.0.0.1/32'] }));
    expect(text).toContain('iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001');
    expect(text).toContain('iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006');
    expect(text).toContain('iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN');
    expect(text).toContain('iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN');
    expect(text).toContain('iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN');
    expect(text).toContain('iptables -t nat -A ISTIO_OUTPUT -d 10.0.0.1/32 -j RETURN');
    // the catch-all redirect comes last, after every exclusion
    expect(text.trim().split('\n').at(-1)).toBe('iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT');
  });

  it('captures only the listed inbound ports and CIDRs when not "*"', () => {
    const text = render(iptablesRules({ ...DEFAULT_IPTABLES, includeInboundPorts: ['8080'], includeOutboundCidrs: ['10.96.0.0/12'] }));
    expect(text).toContain('-A ISTIO_INBOUND -p tcp --dport 8080 -j ISTIO_IN_REDIRECT');
    expect(text).toContain('-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT');
    expect(text).not.toContain('-A ISTIO_OUTPUT -j ISTIO_REDIRECT');
  });
});
