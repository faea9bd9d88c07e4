/**
 * Proxy status across a control plane restart: a real ADS client (libs/xds AdsClient) stays up
 * while the control plane is stopped and started again on the same port. The new control plane
 * resends nothing the client already holds, and still reports every type SYNCED with the version
 * the client holds; after a NACK, `acked` is the version the client's request carried.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdsClient, formatNodeId, TypeUrl } from '@tsmesh/xds';
import { FileStore } from '../src/config/file-store';
import { Discovery } from '../src/server/discovery';
import { golden, waitFor } from './helpers';

const NODE = formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' });

type Status = { proxy: string; types: Record<string, { state: string; sent?: string; acked?: string; nack?: { version: string } }> };

describe('proxy status after a control plane restart', () => {
  let dir: string;
  let discovery: Discovery;
  let port = 0;
  let client: AdsClient;
  const received: Record<string, number> = {};
  let rejectRds = false;

  const start = async () => {
    discovery = new Discovery({ stores: [new FileStore(dir)], debounceMs: 50, debounceMaxMs: 1000 });
    await discovery.start();
    port = await discovery.listen(`127.0.0.1:${port}`);
  };
  const status = () => (discovery.proxyStatus() as Status[]).find((p) => p.proxy === NODE);
  const allSynced = () => {
    const s = status();
    return !!s && ['LDS', 'CDS', 'EDS', 'RDS'].every((t) => s.types[t]?.state === 'SYNCED');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-restart-'));
    for (const f of ['base.yaml', 'callme-split-fault.yaml']) copyFileSync(golden(f), join(dir, f));
    await start();
    client = new AdsClient({ server: `127.0.0.1:${port}`, node: { id: NODE, cluster: 'caller-service' }, backoff: { initialMs: 20, maxMs: 100 } });
    const count = (t: string) => () => { received[t] = (received[t] ?? 0) + 1; };
    client.watch(TypeUrl.Listener, '*', count('LDS'));
    client.watch(TypeUrl.Cluster, '*', count('CDS'));
    client.watch(TypeUrl.ClusterLoadAssignment, ['outbound|8091|v1|callme-service.default.svc.cluster.local'], count('EDS'));
    client.watch(TypeUrl.RouteConfiguration, ['8091'], () => {
      if (rejectRds) throw new Error('route table refused by the test client');
      count('RDS')();
    });
    client.start();
    await waitFor(allSynced, 5000, 'SYNCED before the restart');
  });
  afterAll(async () => {
    client?.close();
    await discovery?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after a restart every type is SYNCED at the version the proxy holds, and nothing is resent', async () => {
    const held = Object.fromEntries(['LDS', 'CDS', 'EDS', 'RDS'].map((t) => [t, status()!.types[t].acked]));
    const before = { ...received };
    await discovery.stop();
    await start();
    await waitFor(allSynced, 5000, 'SYNCED after the restart');
    const s = status()!;
    for (const t of ['LDS', 'CDS', 'EDS', 'RDS']) {
      expect(s.types[t].sent, t).toBe(held[t]);
      expect(s.types[t].acked, t).toBe(held[t]);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual(before);
  });

  it('a NACK after the restart reports the version the client keeps as acked', async () => {
    const held = status()!.types.RDS.acked;
    rejectRds = true;
    const text = readFileSync(join(dir, 'callme-split-fault.yaml'), 'utf8').replace('weight: 20', 'weight: 30').replace('weight: 80', 'weight: 70');
    writeFileSync(join(dir, 'callme-split-fault.yaml'), text);
    await waitFor(() => status()?.types.RDS?.state === 'NACKED', 3000, 'RDS NACKED');
    const rds = status()!.types.RDS;
    expect(rds.acked).toBe(held);
    expect(rds.nack!.version).toBe(rds.sent);
    expect(rds.sent).not.toBe(held);
  });
});
