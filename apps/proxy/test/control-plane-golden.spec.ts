import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DECODE_OPTIONS, messageType } from '@tsmesh/xds';
import { compileCluster, compileLoadAssignment } from '../src/config/cluster';
import { compileListener } from '../src/config/listener';
import { compileRouteTable } from '../src/config/route';
import { registerHttpFilters } from '../src/filters/register';

// The HTTP filters of src/filters (CORS and its per-route policies among them) are compiled, not skipped.
registerHttpFilters();

/**
 * The control plane's golden outputs (apps/control-plane/testdata/golden, proto3 JSON) compile in
 * the proxy. Allowed rejections are only the parts that belong to other layers: TLS transport
 * sockets and RBAC filters (registered by the security and authz modules, not loaded here) and API
 * listeners (proxyless gRPC clients only).
 */
const dir = resolve(import.meta.dirname, '../../control-plane/testdata/golden');
const ALLOWED = [/transport socket "envoy\.transport_sockets\.tls"/, /HTTP filter "envoy\.filters\.http\.(rbac|jwt_authn|local_ratelimit)"/, /network filter "envoy\.filters\.network\.rbac"/, /^api_listener:/];

const compilers: Record<string, [string, (m: never) => unknown]> = {
  CDS: ['envoy.config.cluster.v3.Cluster', (m) => compileCluster(m, 'golden')],
  EDS: ['envoy.config.endpoint.v3.ClusterLoadAssignment', (m) => compileLoadAssignment(m, 'golden')],
  LDS: ['envoy.config.listener.v3.Listener', (m) => compileListener(m, 'golden')],
  RDS: ['envoy.config.route.v3.RouteConfiguration', (m) => compileRouteTable(m, 'golden')],
};

describe.skipIf(!existsSync(dir))("the control plane's golden resources", () => {
  it('compile, or are rejected only for what other layers provide', () => {
    const unexpected: string[] = [];
    let compiled = 0;
    // A VHDS client's files (`*-vhds.json`) hold route tables split into VHDS virtual hosts: test/vhds.spec.ts compiles and compares them.
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json') && !x.endsWith('-vhds.json'))) {
      const d = JSON.parse(readFileSync(resolve(dir, f), 'utf8')) as Record<string, Record<string, unknown>[]>;
      for (const [kind, [typeName, compile]] of Object.entries(compilers)) {
        const t = messageType(typeName);
        for (const r of d[kind] ?? []) {
          const { '@type': _type, ...rest } = r;
          try {
            compile(t.toObject(t.fromObject(rest), DECODE_OPTIONS) as never);
            compiled++;
          } catch (err) {
            const msg = (err as Error).message;
            if (!ALLOWED.some((re) => re.test(msg))) unexpected.push(`${f} ${kind} ${String(r.name ?? r.cluster_name)}: ${msg}`);
          }
        }
      }
    }
    expect(unexpected).toEqual([]);
    expect(compiled).toBeGreaterThan(10);
  });
});
