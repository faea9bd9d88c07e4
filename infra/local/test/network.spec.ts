import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../src/exec';
import { HostNetwork } from '../src/network';
import { newRunId, RunNames } from '../src/names';

describe('HostNetwork', () => {
  it('gives runtimes started at once their own bridge, blocks and chains, and removes them all', async () => {
    const nets = await Promise.all([0, 1, 2].map(() => HostNetwork.create(new RunNames(newRunId()))));
    try {
      expect(new Set(nets.map((n) => n.podCidr)).size).toBe(3);
      expect(new Set(nets.map((n) => n.serviceCidr)).size).toBe(3);
      const pods = await Promise.all(nets.map((n) => n.addPod('default', 'p', { hosts: '', resolvConf: '' })));
      // A pod reaches its run's gateway (nothing listens on port 9: refused, not unreachable).
      const ok = await run(['ip', 'netns', 'exec', pods[0].netns, process.execPath, '-e', `require('net').connect({ host: '${nets[0].gateway}', port: 9, timeout: 500 }).on('error', (e) => { console.log(e.code); process.exit(0); }).on('timeout', () => { console.log('timeout'); process.exit(0); })`]);
      expect(ok.trim()).toBe('ECONNREFUSED');
    } finally {
      await Promise.all(nets.map((n) => n.close()));
    }
    for (const n of nets) expect(existsSync(`/sys/class/net/${n.names.bridge}`)).toBe(false);
    const rules = await run(['iptables-save']);
    for (const n of nets) expect(rules).not.toContain(`TSM-${n.names.id}-`);
  });
});
