import { describe, expect, it } from 'vitest';
import { formatClusterName, formatNodeId, parseClusterName, parseNodeId } from './names';

describe('Istio resource names', () => {
  it('round-trips an outbound cluster name with a subset', () => {
    const name = 'outbound|8091|v1|callme-service.default.svc.cluster.local';
    const parsed = parseClusterName(name);
    expect(parsed).toEqual({ direction: 'outbound', port: 8091, subset: 'v1', host: 'callme-service.default.svc.cluster.local' });
    expect(formatClusterName(parsed!)).toBe(name);
  });

  it('parses an inbound cluster name with no subset', () => {
    expect(parseClusterName('inbound|8080||')).toEqual({ direction: 'inbound', port: 8080, subset: '', host: '' });
  });

  it('rejects names that are not Istio cluster names', () => {
    expect(parseClusterName('PassthroughCluster')).toBeNull();
    expect(parseClusterName('sideways|80||x')).toBeNull();
    expect(parseClusterName('outbound|99999||x')).toBeNull();
  });

  it('round-trips a sidecar node id', () => {
    const id = formatNodeId({ type: 'sidecar', ip: '10.1.0.5', podName: 'callme-v1-abc', namespace: 'default' });
    expect(id).toBe('sidecar~10.1.0.5~callme-v1-abc.default~default.svc.cluster.local');
    expect(parseNodeId(id)).toMatchObject({ type: 'sidecar', ip: '10.1.0.5', podName: 'callme-v1-abc', namespace: 'default' });
  });

  it('names what is wrong with a bad node id', () => {
    expect(() => parseNodeId('sidecar~1.2.3.4')).toThrow(/expected 4 parts/);
    expect(() => parseNodeId('proxy~1.2.3.4~a.b~b.svc')).toThrow(/not sidecar or router/);
  });
});
