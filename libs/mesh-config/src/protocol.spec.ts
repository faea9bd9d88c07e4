import { describe, expect, it } from 'vitest';
import { protocolOfServicePort } from './protocol';
import { resolveHost, hostMatches } from './hosts';

describe('protocol selection', () => {
  it('prefers appProtocol, then the port name prefix', () => {
    expect(protocolOfServicePort({ name: 'tcp', appProtocol: 'http' })).toBe('HTTP');
    expect(protocolOfServicePort({ name: 'grpc-api' })).toBe('GRPC');
    expect(protocolOfServicePort({ name: 'http2' })).toBe('HTTP2');
    expect(protocolOfServicePort({ name: 'tls-db' })).toBe('TLS');
    expect(protocolOfServicePort({ name: 'web' })).toBe('UNKNOWN');
    expect(protocolOfServicePort({ name: 'http', protocol: 'UDP' })).toBe('UDP');
    expect(protocolOfServicePort({ appProtocol: 'kubernetes.io/h2c' })).toBe('HTTP2');
  });
});

describe('hosts', () => {
  it('resolves short and namespaced names to FQDNs', () => {
    expect(resolveHost('reviews', 'prod')).toBe('reviews.prod.svc.cluster.local');
    expect(resolveHost('reviews.other', 'prod')).toBe('reviews.other.svc.cluster.local');
    expect(resolveHost('api.example.com', 'prod')).toBe('api.example.com');
    expect(resolveHost('*', 'prod')).toBe('*');
  });
  it('matches wildcards', () => {
    expect(hostMatches('*.example.com', 'a.example.com')).toBe(true);
    expect(hostMatches('*.example.com', 'example.com')).toBe(false);
    expect(hostMatches('*', 'x')).toBe(true);
  });
});
