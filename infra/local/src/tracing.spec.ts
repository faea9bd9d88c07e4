import { describe, expect, it } from 'vitest';
import { containerArgv, IMAGES } from './images';
import { imagesWithTracing, withTracingArgs } from './tracing';

describe('tracing for a run', () => {
  const ctx = { jwksFile: '/run/jwks.json', issuer: 'https://kubernetes.default.svc.cluster.local', configDir: '/run/config' };

  it('adds --tracing-otlp to proxy sidecar and router, not to istio-iptables or other images', () => {
    expect(withTracingArgs(['proxy', 'sidecar', '--domain', 'x'], 'http://10.0.0.1:4318/v1/traces', 100)).toEqual(['proxy', 'sidecar', '--domain', 'x', '--tracing-otlp', 'http://10.0.0.1:4318/v1/traces', '--trace-sampling', '100']);
    expect(withTracingArgs(['router'], 'u')).toEqual(['router', '--tracing-otlp', 'u']);
    expect(withTracingArgs(['istio-iptables', '-p', '15001'], 'u')).toEqual(['istio-iptables', '-p', '15001']);
    const images = imagesWithTracing('http://h:4318/v1/traces');
    expect(containerArgv({ image: 'tsmesh/proxy:latest', args: ['proxy', 'router'] }, ctx, images).slice(-4)).toEqual(['proxy', 'router', '--tracing-otlp', 'http://h:4318/v1/traces']);
    expect(containerArgv({ image: 'tsmesh/control-plane:latest', args: ['--kubernetes'] }, ctx, images)).toEqual(containerArgv({ image: 'tsmesh/control-plane:latest', args: ['--kubernetes'] }, ctx, IMAGES));
  });
});
