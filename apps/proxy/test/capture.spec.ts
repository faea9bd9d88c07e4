import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdsServer, SnapshotCache, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, listenerFilter, route,
  routeConfiguration, virtualHost, tcpProxy, headerValues, type Cluster,
} from '@tsmesh/xds';
import { bundleProxy, removeBundle, run, waitOutput, type Proc } from './process';

const canRun = process.getuid?.() === 0 && (() => {
  try {
    execFileSync('ip', ['netns', 'list']);
    execFileSync('iptables', ['-V']);
    return true;
  } catch {
    return false;
  }
})();

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, cmd: string[]) => sh('ip', ['netns', 'exec', ns, ...cmd]);

const BACKEND = `require('http').createServer((q,s)=>{s.setHeader('x-backend','b');s.end('backend '+q.url+' from '+q.socket.remoteAddress)}).listen(8080,'0.0.0.0',()=>console.log('listening'))`;
const APP = `const h=require('http');for(const p of [9090,9091])h.createServer((q,s)=>{s.end('app '+q.url+' via '+q.socket.remoteAddress)}).listen(p,'0.0.0.0',()=>console.log('listening '+p))`;

/**
 * Transparent capture: two network namespaces joined by a veth pair. In "pod" the proxy runs as
 * UID 1337 after `istio-iptables`; an unmodified client (curl, as root) calls a Service VIP and
 * reaches the backend in "remote" through the proxy; unknown destinations pass through; inbound
 * traffic to the pod is captured on 15006 and delivered to the app on localhost.
 */
describe.skipIf(!canRun)('transparent capture in a network namespace', () => {
  const tag = `t${process.pid % 100000}`;
  const pod = `${tag}pod`;
  const remote = `${tag}rem`;
  const sub = 200 + (process.pid % 50);
  const podIp = `10.${sub}.77.1`;
  const remoteIp = `10.${sub}.77.2`;
  const vip = '10.96.0.10';
  const procs: Proc[] = [];
  let dir = '';
  let ads: AdsServer | undefined;
  let main = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-capture-'));
    chmodSync(dir, 0o777);
    sh('ip', ['netns', 'add', pod]);
    sh('ip', ['netns', 'add', remote]);
    sh('ip', ['link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`]);
    sh('ip', ['link', 'set', `${tag}a`, 'netns', pod]);
    sh('ip', ['link', 'set', `${tag}b`, 'netns', remote]);
    for (const [ns, dev, ip, gw] of [[pod, `${tag}a`, podIp, remoteIp], [remote, `${tag}b`, remoteIp, podIp]]) {
      inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
      inNs(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', dev]);
      inNs(ns, ['ip', 'link', 'set', dev, 'up']);
      inNs(ns, ['ip', 'route', 'add', 'default', 'via', gw]);
    }
    main = await bundleProxy(`capture-${process.pid}`);
    // the init container's rules, in the pod's namespace
    inNs(pod, [process.execPath, main, 'istio-iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-g', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']);

    const backend = run('ip', ['netns', 'exec', remote, process.execPath, '-e', BACKEND]);
    const app = run('ip', ['netns', 'exec', pod, process.execPath, '-e', APP]);
    procs.push(backend, app);
    await waitOutput(backend, /listening/);
    await waitOutput(app, /listening 9090[\s\S]*listening 9091|listening 9091[\s\S]*listening 9090/);

    const nodeId = `sidecar~${podIp}~client.default~default.svc.cluster.local`;
    const cache = new SnapshotCache();
    const svc = 'outbound|80||backend.default.svc.cluster.local';
    const passthrough: Cluster = cluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST' });
    const inboundPassthrough: Cluster = { ...cluster({ name: 'InboundPassthroughClusterIpv4', type: 'ORIGINAL_DST' }), upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } } };
    const inboundRoutes = routeConfiguration('inbound|9090||', [virtualHost('inbound|http|9090', ['*'], [{ ...route({ cluster: 'inbound|9090||' }), response_headers_to_add: headerValues({ 'x-inbound': 'tsmesh' }) }])]);
    cache.setSnapshot(nodeId, Snapshot.create('1', {
      [TypeUrl.Listener]: [
        listener({ name: 'virtualOutbound', address: '0.0.0.0', port: 15001, useOriginalDst: true, trafficDirection: 'OUTBOUND', filterChains: [], defaultFilterChain: { filters: [tcpProxy('PassthroughCluster', 'PassthroughCluster')] } }),
        listener({ name: '0.0.0.0_80', address: '0.0.0.0', port: 80, bindToPort: false, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_80', rdsName: '80' })] }] }),
        listener({
          name: 'virtualInbound', address: '0.0.0.0', port: 15006, trafficDirection: 'INBOUND', listenerFilters: [listenerFilter('original_dst')],
          filterChains: [{ filter_chain_match: { destination_port: { value: 9090 } }, filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_9090', routeConfig: inboundRoutes })] }],
          defaultFilterChain: { filters: [tcpProxy('InboundPassthroughClusterIpv4', 'InboundPassthroughClusterIpv4')] },
        }),
      ],
      [TypeUrl.RouteConfiguration]: [routeConfiguration('80', [virtualHost('backend.default.svc.cluster.local:80', ['backend.default.svc.cluster.local', 'backend', vip, `${vip}:80`], [{ ...route({ cluster: svc }), response_headers_to_add: headerValues({ 'x-via': 'tsmesh-proxy' }) }])])],
      [TypeUrl.Cluster]: [cluster({ name: svc }), passthrough, inboundPassthrough, cluster({ name: 'inbound|9090||', type: 'STATIC', staticEndpoints: [{ address: '127.0.0.1', port: 9090 }] })],
      [TypeUrl.ClusterLoadAssignment]: [clusterLoadAssignment(svc, [{ address: remoteIp, port: 8080 }])],
    }).assertConsistent());
    ads = new AdsServer({ cache });
    const sock = join(dir, 'xds.sock');
    await ads.listen(`unix:${sock}`);
    chmodSync(sock, 0o777);
    const proxy = run('ip', ['netns', 'exec', pod, 'setpriv', '--reuid=1337', '--regid=1337', '--clear-groups', process.execPath, main, 'proxy', 'sidecar', '--discovery-address', `unix:${sock}`],
      { POD_NAME: 'client', POD_NAMESPACE: 'default', INSTANCE_IP: podIp, SERVICE_ACCOUNT: 'default' });
    procs.push(proxy);
    await waitOutput(proxy, /first config applied/);
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await ads?.close();
    for (const ns of [pod, remote]) {
      try { sh('ip', ['netns', 'del', ns]); } catch { /* already gone */ }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (main) removeBundle(main);
  });

  const curl = (ns: string, url: string) => inNs(ns, ['curl', '-s', '-i', '--max-time', '5', url]);

  it('an unmodified client reaches a Service VIP through the proxy', () => {
    const out = curl(pod, `http://${vip}/hello`);
    expect(out).toMatch(/^HTTP\/1.1 200/);
    expect(out).toContain('x-via: tsmesh-proxy');
    expect(out).toContain(`backend /hello from ${podIp}`);
  });

  it('passes through destinations with no listener', () => {
    const out = curl(pod, `http://${remoteIp}:8080/direct`);
    expect(out).toMatch(/^HTTP\/1.1 200/);
    expect(out).not.toContain('x-via');
    expect(out).toContain('backend /direct');
    const stats = inNs(pod, ['curl', '-s', 'http://127.0.0.1:15000/stats']);
    expect(stats).toMatch(/cluster\.PassthroughCluster\.upstream_cx_total: [1-9]/);
  });

  it('captures inbound traffic on 15006 and delivers it to the app on localhost', () => {
    const out = curl(remote, `http://${podIp}:9090/in`);
    expect(out).toMatch(/^HTTP\/1.1 200/);
    expect(out).toContain('x-inbound: tsmesh');
    expect(out).toContain('app /in via 127.0.0.1');
  });

  it('passes inbound traffic for ports with no chain through to the app, from 127.0.0.6', () => {
    const out = curl(remote, `http://${podIp}:9091/other`);
    expect(out).toMatch(/^HTTP\/1.1 200/);
    expect(out).not.toContain('x-inbound');
    expect(out).toContain('app /other via 127.0.0.6');
  });
});
