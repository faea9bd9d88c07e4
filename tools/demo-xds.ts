/**
 * The xDS demo: a tsmesh ADS server configures a real proxyless gRPC client (@grpc/grpc-js-xds,
 * target `xds:///greeter`) in its own process; two greeter backends answer. It shows an 80/20
 * weighted route, then moves all traffic to the second backend with a new snapshot while the
 * client keeps running.
 */
import { AdsServer, SnapshotCache, TypeUrl } from '../libs/xds/src/index';
import { greeterSnapshot, startBackend, XdsClientProcess } from '../libs/xds/test/harness';

const bar = (n: number, total: number) => '█'.repeat(Math.round((40 * n) / total));

async function main(): Promise<void> {
  const a = await startBackend('greeter-v1');
  const b = await startBackend('greeter-v2');
  const cache = new SnapshotCache();
  const server = new AdsServer({ cache });
  const port = await server.listen('127.0.0.1:0');
  const nodeId = 'demo-client';
  console.log(`ADS server on 127.0.0.1:${port}; backends greeter-v1 :${a.port}, greeter-v2 :${b.port}`);
  cache.setSnapshot(nodeId, greeterSnapshot('1', [{ name: 'greeter-v1', port: a.port, weight: 80 }, { name: 'greeter-v2', port: b.port, weight: 20 }]));
  const client = await XdsClientProcess.start(port, nodeId);
  try {
    const show = (title: string, counts: Record<string, number>, total: number) => {
      console.log(`\n${title}`);
      for (const name of ['greeter-v1', 'greeter-v2']) {
        const n = counts[name] ?? 0;
        console.log(`  ${name}  ${String(n).padStart(5)}  ${bar(n, total)}`);
      }
    };
    const r1 = await client.call(1000);
    show('snapshot v1: weighted route 80/20, 1,000 calls from xds:///greeter', r1.counts, 1000);
    cache.setSnapshot(nodeId, greeterSnapshot('2', [{ name: 'greeter-v1', port: a.port, weight: 0 }, { name: 'greeter-v2', port: b.port, weight: 100 }]));
    const until = Date.now() + 5000;
    while (server.status.get(nodeId)?.types.get(TypeUrl.RouteConfiguration)?.ackedVersion !== '2' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const r2 = await client.call(1000);
    show('snapshot v2: weighted route 0/100 (same client, no restart), 1,000 calls', r2.counts, 1000);
    console.log('\nproxy status (what the control plane knows about the client):');
    for (const [type, t] of server.status.get(nodeId)!.types) {
      console.log(`  ${type.split('.').pop()!.padEnd(22)} ACKed ${t.ackedVersion ?? '-'}${t.lastNack ? `  last NACK: ${t.lastNack.message}` : ''}`);
    }
    console.log('\nThe whole mesh (control plane, CA, injector, ingress gateway, sample apps with sidecars) on the');
    console.log('local runtime: npm run demo (as root).');
  } finally {
    await client.stop();
    await server.close();
    await a.close();
    await b.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
