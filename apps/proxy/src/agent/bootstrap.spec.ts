import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNodeId } from '@tsmesh/xds';
import { bootstrap, parseDuration, parseLabels, xdsNode } from './bootstrap';

describe('bootstrap', () => {
  it("builds Istio's node id from the downward-API env, flags winning", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-boot-'));
    try {
      writeFileSync(join(dir, 'labels'), 'app="callme"\nversion="v2"\n');
      const b = bootstrap('sidecar', { labelsFile: join(dir, 'labels') }, { POD_NAME: 'callme-1', POD_NAMESPACE: 'demo', INSTANCE_IP: '10.1.2.3', SERVICE_ACCOUNT: 'callme' });
      expect(b.nodeId).toBe('sidecar~10.1.2.3~callme-1.demo~demo.svc.cluster.local');
      expect(parseNodeId(b.nodeId)).toMatchObject({ type: 'sidecar', ip: '10.1.2.3', podName: 'callme-1', namespace: 'demo' });
      expect(b.labels).toEqual({ app: 'callme', version: 'v2' });
      const node = xdsNode(b) as { cluster: string; metadata: { fields: Record<string, { stringValue?: string }> } };
      expect(node.cluster).toBe('callme.demo');
      expect(node.metadata.fields.SERVICE_ACCOUNT.stringValue).toBe('callme');
      const r = bootstrap('router', { podName: 'gw', ip: '10.9.9.9', podNamespace: 'istio-system' }, { POD_NAME: 'ignored' });
      expect(r.nodeId).toBe('router~10.9.9.9~gw.istio-system~istio-system.svc.cluster.local');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses durations and label files, and requires a pod name', () => {
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2')).toBe(2000);
    expect(parseLabels('a="b=c"\nbad\n')).toEqual({ a: 'b=c' });
    expect(() => bootstrap('sidecar', {}, {})).toThrow(/POD_NAME/);
  });
});
