import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanup } from '../src/cleanup';
import { run } from '../src/exec';
import { HostNetwork } from '../src/network';
import { newRunId, RunNames } from '../src/names';

describe('cleanup', () => {
  it('removes what a crashed run left: processes, namespaces, veths, bridge, chains, /etc/netns', async () => {
    // A run id whose pid cannot be alive (above pid_max).
    const names = new RunNames(newRunId(4_194_304 + (process.pid % 50_000)));
    const net = await HostNetwork.create(names);
    const pod = await net.addPod('default', 'orphan', { hosts: '127.0.0.1 localhost\n', resolvConf: 'nameserver 127.0.0.1\n' });
    await net.syncServices([{ key: 'default/orphan:80', vip: net.vips.allocate(), port: 80, protocol: 'TCP', endpoints: [{ ip: pod.ip, port: 8080 }] }]);
    const child = spawn('ip', ['netns', 'exec', pod.netns, 'sleep', '300'], { stdio: 'ignore', detached: true });
    child.unref();
    await new Promise((r) => setTimeout(r, 200));
    // The runtime process "crashes": nothing is closed.
    await cleanup();
    // (A runtime started meanwhile by another test file may have cleaned it first: check the effects.)
    await new Promise((r) => setTimeout(r, 100));
    expect(() => process.kill(child.pid!, 0)).toThrow();
    expect(await run(['ip', 'netns', 'list'])).not.toContain(pod.netns);
    expect(existsSync(`/sys/class/net/${names.bridge}`)).toBe(false);
    expect(existsSync(`/sys/class/net/${pod.vethHost}`)).toBe(false);
    expect(existsSync(pod.etcDir)).toBe(false);
    expect(await run(['iptables', '-t', 'nat', '-S'])).not.toContain(`TSM-${names.id}-`);
    expect(await run(['iptables', '-t', 'filter', '-S'])).not.toContain(`TSM-${names.id}-`);
  });

  it('leaves live runs alone', async () => {
    const names = new RunNames(newRunId());
    const net = await HostNetwork.create(names);
    try {
      await cleanup();
      expect(existsSync(`/sys/class/net/${names.bridge}`)).toBe(true);
    } finally {
      await net.close();
    }
    expect(existsSync(`/sys/class/net/${names.bridge}`)).toBe(false);
  });
});
