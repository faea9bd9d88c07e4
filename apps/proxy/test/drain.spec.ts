import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost } from '@tsmesh/xds';
import { ControlPlane, listenerPort, upstream, request, until, type Upstream } from './harness';
import { bundleProxy, removeBundle, run, waitOutput, type Proc } from './process';


/** Drain on SIGTERM: stop accepting, finish every in-flight request, exit 0. */
describe('drain on SIGTERM (real process)', () => {
  let cp: ControlPlane;
  let slow: Upstream;
  let proc: Proc | undefined;
  let main = '';
  let listenPort = 0;

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    listenPort = await listenerPort();
    slow = await upstream('slow', (_q, res) => setTimeout(() => res.end('done'), 600));
    const nodeId = 'sidecar~127.0.0.1~drain.default~default.svc.cluster.local';
    cp.cache.setSnapshot(nodeId, Snapshot.create('1', {
      [TypeUrl.Listener]: [listener({ name: 'http', address: '127.0.0.1', port: listenPort, filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'http', rdsName: 'r' })] }] })],
      [TypeUrl.RouteConfiguration]: [routeConfiguration('r', [virtualHost('v', ['*'], [route({ cluster: 'slow' })])])],
      [TypeUrl.Cluster]: [cluster({ name: 'slow' })],
      [TypeUrl.ClusterLoadAssignment]: [clusterLoadAssignment('slow', [{ address: '127.0.0.1', port: slow.port }])],
    }));
    main = await bundleProxy(`drain-${process.pid}`);
    proc = run(process.execPath, [main, 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${cp.port}`, '--admin-port', '0', '--status-port', '0', '--prometheus-port', '0', '--drain-duration', '5s'], { POD_NAME: 'drain', POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' });
    await waitOutput(proc, /first config applied/);
  });
  afterAll(async () => {
    if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
    await cp?.close();
    await slow?.close();
    if (main) removeBundle(main);
  });

  it('finishes in-flight requests, refuses new connections, then exits 0', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    const inflight = Array.from({ length: 8 }, () => request(listenPort, '/', { agent }));
    await until(() => slow.hits >= 8, 3000, 'requests in flight');
    proc!.child.kill('SIGTERM');
    await waitOutput(proc!, /draining/);
    const results = await Promise.all(inflight);
    expect(results.map((r) => `${r.status} ${r.body}`)).toEqual(Array(8).fill('200 done'));
    // keep-alive connections were told to close
    expect(results.every((r) => r.headers.connection === 'close')).toBe(true);
    await expect(request(listenPort, '/')).rejects.toThrow();
    expect(await proc!.exited).toBe(0);
    agent.destroy();
  });
});
