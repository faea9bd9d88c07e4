import { describe, expect, it } from 'vitest';
import { podSchemaErrors } from './k8s-schema';

describe('podSchemaErrors', () => {
  it('accepts a valid pod', () => {
    expect(podSchemaErrors({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' }, spec: { containers: [{ name: 'a', image: 'b' }] } })).toEqual([]);
  });
  it('reports wrong types, missing required fields and unknown fields', () => {
    const errors = podSchemaErrors({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a' },
      spec: { containers: [{ image: 'b', ports: [{ containerPort: '80' }], bogus: true }], initContainers: [{ name: 'i', image: 'x', restartPolicy: 'Always', startupProbe: { httpGet: { port: 1, paht: '/' } } }] },
    });
    expect(errors.join('\n')).toMatch(/containerPort/);
    expect(errors.join('\n')).toMatch(/name/);
    expect(errors).toContain('pod.spec.containers[0].bogus: unknown field (not in V1Container)');
    expect(errors).toContain('pod.spec.initContainers[0].startupProbe.httpGet.paht: unknown field (not in V1HTTPGetAction)');
  });
});
