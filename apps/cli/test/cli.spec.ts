import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli';
import { formatProxyStatus, getJson, selectKind, type ProxyStatusEntry } from '../src/commands/proxy-status';

const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/${f}`, import.meta.url));

describe('tsmesh analyze', () => {
  it('accepts a consistent canary config and says so as istioctl does, exit 0', async () => {
    const r = await runCli(['analyze', fixture('good.yaml')]);
    expect(r.out).toContain('\u2714 No validation issues found when analyzing namespace: default.');
    expect(r.code).toBe(0);
  });

  it('prints each finding as "Level [IST code] (Kind ns/name file:line) message" and exits 79', async () => {
    const r = await runCli(['analyze', fixture('bad.yaml')]);
    expect(r.code).toBe(79);
    expect(r.out).toMatch(/^Error \[IST0106\] \(VirtualService default\/callme .*bad\.yaml:37\) Schema validation error: spec\.http\[0\]\.retires: unknown field "retires" \(did you mean "retries"\?\)$/m);
    // Weights 20/70 are relative, as Istio reads them: no finding about them.
    expect(r.out).not.toMatch(/weight/);
    expect(r.err).toContain('Analyzers found issues');
  });

  it('prints istioctl-shaped JSON and YAML on request, with the same exit code', async () => {
    const j = await runCli(['analyze', '-o', 'json', fixture('bad.yaml')]);
    const parsed = JSON.parse(j.out) as { code: string; level: string; documentationUrl: string; origin: string; reference: string; message: string }[];
    expect(parsed[0]).toMatchObject({ code: 'IST0106', level: 'Error', origin: 'VirtualService default/callme', documentationUrl: 'https://istio.io/latest/docs/reference/config/analysis/ist0106/' });
    expect(j.code).toBe(79);
    const y = await runCli(['analyze', '-o', 'yaml', fixture('bad.yaml')]);
    expect(y.out).toMatch(/^- code: IST0106$/m);
    expect(y.code).toBe(79);
  });

  it('lists every document of a kind it does not read as not analysed, and schema-checks Istio kinds it does not read', async () => {
    const r = await runCli(['analyze', fixture('unread.yaml')]);
    const lines = r.out.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('Info [TSM0001]')).map((l) => l.replace(/ \S+unread\.yaml:\d+\)/, ')'))).toEqual([
      'Info [TSM0001] (Telemetry istio-system/mesh-default) telemetry.istio.io/v1 Telemetry is not read by tsmesh: not analysed (checked against Istio\'s schema only)',
      'Info [TSM0001] (WorkloadEntry default/vm-1) networking.istio.io/v1 WorkloadEntry is not read by tsmesh: not analysed (checked against Istio\'s schema only)',
      'Info [TSM0001] (Telemetry default/broken) telemetry.istio.io/v1 Telemetry is not read by tsmesh: not analysed (checked against Istio\'s schema only)',
    ]);
    // Gateway API kinds are read (and schema-checked) like Istio's.
    expect(r.out).not.toMatch(/HTTPRoute default\/web\) .* is not read/);
    expect(r.out).toMatch(/Error \[IST0106\] \(Telemetry default\/broken \S+unread\.yaml:35\) Schema validation error: spec\.tracing\[0\]\.randomSamplingPercentage: expected number/);
    expect(r.code).toBe(79);
    expect(r.out).not.toContain('No validation issues');
  });

  it('runs istioctl\'s cross-resource analyzers', async () => {
    const r = await runCli(['analyze', '-o', 'json', fixture('analyzers.yaml')]);
    const got = (JSON.parse(r.out) as { code: string; level: string; origin: string; message: string }[]).map((m) => `${m.level} ${m.code} ${m.origin}: ${m.message}`);
    expect(got).toEqual([
      'Error IST0101 VirtualService shop/reviews: Referenced host+subset in destinationrule not found: "reviews.shop.svc.cluster.local+v4"',
      'Error IST0101 VirtualService shop/reviews: Referenced host not found: "ratings.shop.svc.cluster.local"',
      'Error IST0101 Gateway shop/shop-gateway: Referenced selector not found: "istio=ingressgateway"',
      'Warning IST0132 VirtualService shop/reviews: one or more host [reviews] defined in VirtualService shop/reviews not found in Gateway shop/shop-gateway.',
      'Info IST0131 VirtualService shop/reviews: VirtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0).',
      'Warning IST0130 VirtualService shop/reviews: VirtualService rule #1 not used (all matches used by prior rules).',
      'Warning IST0130 VirtualService shop/reviews: VirtualService rule #3 not used (only the last rule can have no matches).',
      'Error IST0111 Sidecar shop/one: The Sidecars [shop/one shop/two] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
      'Error IST0111 Sidecar shop/two: The Sidecars [shop/one shop/two] in namespace "shop" have no workload selector, which can lead to undefined behavior.',
      'Error IST0101 AuthorizationPolicy shop/allow-frontend: Referenced namespace not found: "frontend"',
      'Warning TSM0101 ServiceEntry shop/payments-http: ServiceEntries [shop/payments-http, shop/payments-tcp] define host payments.example.com port 443 with different protocols: HTTPS, TCP',
      'Warning TSM0101 ServiceEntry shop/payments-tcp: ServiceEntries [shop/payments-http, shop/payments-tcp] define host payments.example.com port 443 with different protocols: HTTPS, TCP',
      'Warning IST0127 DestinationRule shop/reviews: No matching workloads for this resource with the following labels: app=reviews,version=v3',
      'Warning IST0128 DestinationRule shop/reviews: DestinationRule reviews in namespace shop has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: reviews',
      'Error IST0149 VirtualService shop/by-claim: The virtual service uses the JWT claim based routing (key: @request.auth.claims.group) but found no request authentication for the gateway (shop/shop-gateway) pod (istio=ingressgateway). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.',
    ]);
    expect(r.code).toBe(79);
  });

  it('names each EnvoyFilter patch the proxy cannot run (TSM0102) and passes the ones it can', async () => {
    const r = await runCli(['analyze', fixture('envoyfilter.yaml')]);
    expect(r.code).toBe(79);
    expect(r.out).toMatch(/^Error \[TSM0102\] \(EnvoyFilter default\/lua \S+envoyfilter\.yaml:\d+\) spec\.configPatches\[0\]\.patch\.value\.typed_config\.@type: type "type\.googleapis\.com\/envoy\.extensions\.filters\.http\.lua\.v3\.Lua" is not known to tsmesh, so no tsmesh proxy runs it/m);
    expect(r.out).not.toMatch(/add-header/);
  });

  it('exits 65 on YAML it cannot parse and 64 on a bad flag, as istioctl does', async () => {
    const s = await runCli(['analyze', fixture('syntax.yaml')]);
    expect(s.code).toBe(65);
    expect(s.err).toMatch(/failed to parse .*syntax\.yaml:\d+/);
    const u = await runCli(['analyze', '-o', 'xml', fixture('good.yaml')]);
    expect(u.code).toBe(64);
  });

  it('exits 0 on warnings unless --failure-threshold is lowered, and hides levels under --output-threshold', async () => {
    const w = await runCli(['analyze', '--output-threshold', 'Warning', '--failure-threshold', 'Warning', fixture('analyzers.yaml')]);
    expect(w.out).not.toMatch(/^Info/m);
    expect(w.code).toBe(79);
  });
});

// A /debug/syncz payload recorded from the control plane with one synced sidecar and one gateway
// that NACKed a cluster update.
const recordedSyncz: ProxyStatusEntry[] = [
  {
    proxy: 'sidecar~10.244.0.7~callme-v1-5c9d.default~default.svc.cluster.local', kind: 'sidecar', namespace: 'default', pod: 'callme-v1-5c9d', ip: '10.244.0.7', pushVersion: '20261123T181500Z/4',
    types: { CDS: { state: 'SYNCED', sent: '20261123T181500Z/4', acked: '20261123T181500Z/4' }, EDS: { state: 'SYNCED', sent: '20261123T181500Z/4', acked: '20261123T181500Z/4' }, LDS: { state: 'SYNCED', sent: 'a', acked: 'a' }, RDS: { state: 'SYNCED', sent: 'a', acked: 'a' } },
  },
  {
    proxy: 'router~10.244.0.3~istio-ingressgateway-7f.istio-system~istio-system.svc.cluster.local', kind: 'router', namespace: 'istio-system', pod: 'istio-ingressgateway-7f', ip: '10.244.0.3', pushVersion: '20261123T181500Z/4',
    types: { CDS: { state: 'NACKED', sent: 'b', acked: 'a', nack: { version: 'b', message: 'Cluster resource "x": unsupported lb_policy MAGLEV' } }, LDS: { state: 'SYNCED', sent: 'a', acked: 'a' } },
  },
];

describe('tsmesh proxy-status', () => {
  it('prints one row per proxy with each type’s state, and the NACK reasons below', () => {
    const text = formatProxyStatus(recordedSyncz);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION$/);
    expect(lines[1]).toMatch(/^callme-v1-5c9d\.default\s+sidecar\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+IGNORED\s+20261123T181500Z\/4$/);
    expect(lines[2]).toMatch(/^istio-ingressgateway-7f\.istio-system\s+router\s+NACKED \(b\)\s+SYNCED\s+IGNORED/);
    expect(text).toContain('CDS NACK of b: Cluster resource "x": unsupported lb_policy MAGLEV');
  });

  it('reports an unreachable control plane and an HTTP error clearly', async () => {
    const server = createServer((req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'no connected proxy "nope"' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(getJson(`http://127.0.0.1:${port}`, '/debug/config_dump?proxyID=nope')).rejects.toThrow(/HTTP 404: no connected proxy "nope"/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    await expect(getJson(`http://127.0.0.1:${port}`, '/debug/syncz')).rejects.toThrow(/cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('selects one kind from a config dump and refuses unknown kinds', () => {
    const dump = { proxy: 'p', versions: {}, resources: { 'type.googleapis.com/envoy.config.cluster.v3.Cluster': [{ name: 'c' }], 'type.googleapis.com/envoy.config.listener.v3.Listener': [{ name: 'l' }] } };
    expect(selectKind(dump, 'clusters')).toEqual([{ name: 'c' }]);
    expect(selectKind(dump, 'listener')).toEqual([{ name: 'l' }]);
    expect(() => selectKind(dump, 'pods')).toThrow(/unknown kind "pods"/);
  });
});
