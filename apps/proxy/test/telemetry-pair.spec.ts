/**
 * Both sides of a mesh hop in the real data path: an outbound listener (the client's sidecar)
 * forwards to an inbound listener (the server's sidecar) in front of the app. Each side has its
 * telemetry layer: one trace holds the CLIENT and the SERVER span, W3C and B3 headers reach the
 * app, and each side labels the request with the other's workload from the exchanged metadata.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { SpanKind } from '@opentelemetry/api';
import { httpConnectionManager, listener, route } from '@tsmesh/xds';
import type { Proxy } from '../src/agent/proxy';
import { registerHttpLayer } from '../src/http/hcm';
import { telemetryLayer } from '../src/telemetry/layer';
import { TelemetryRecorder } from '../src/telemetry/recorder';
import { ProxyTracer } from '../src/telemetry/tracing';
import { workloadInfo } from '../src/telemetry/workload';
import { ControlPlane, edsCluster, request, routes, startProxy, until, upstream, type Upstream } from './harness';

const exporter = new InMemorySpanExporter();
const caller = workloadInfo({ pod: 'caller-v1-5d8f9c7b6-abcde', namespace: 'shop', labels: { app: 'caller', version: 'v1' }, serviceAccount: 'caller' });
const callme = workloadInfo({ pod: 'callme-v2-7f6d5c4b3-zyxwv', namespace: 'shop', labels: { app: 'callme', version: 'v2' }, serviceAccount: 'callme' });
const clientSide = { recorder: new TelemetryRecorder(caller), tracer: new ProxyTracer(caller, { exporter, simple: true, samplingPercent: 100 }), accessLog: null, nodeId: 'sidecar~10.0.0.5~caller.shop~shop.svc.cluster.local' };
const serverSide = { recorder: new TelemetryRecorder(callme), tracer: new ProxyTracer(callme, { exporter, simple: true, samplingPercent: 100 }), accessLog: null, nodeId: 'sidecar~10.0.0.7~callme.shop~shop.svc.cluster.local' };

let cp: ControlPlane;
let proxy: Proxy;
let app: Upstream;
let outPort = 0;

beforeAll(async () => {
  registerHttpLayer((spec) => {
    if (spec.statPrefix === 'outbound_0.0.0.0_8091') return telemetryLayer(clientSide, 'outbound');
    if (spec.statPrefix === 'inbound_0.0.0.0_8091') return telemetryLayer(serverSide, 'inbound');
    return null;
  });
  app = await upstream('callme');
  cp = new ControlPlane();
  await cp.start();
  proxy = await startProxy(cp);
  const inbound = edsCluster('inbound|8091||', [app.port]);
  const push = (inboundPort: number) => {
    const out = edsCluster('outbound|8091||callme.shop.svc.cluster.local', inboundPort ? [inboundPort] : []);
    cp.push({
      listeners: [
        listener({ name: 'out_8091', address: '127.0.0.1', port: 0, trafficDirection: 'OUTBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_8091', rdsName: '8091' })] }] }),
        listener({ name: 'in_8091', address: '127.0.0.1', port: 0, trafficDirection: 'INBOUND', filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_8091', rdsName: 'inbound-8091' })] }] }),
      ],
      routes: [
        routes('8091', [route({ name: 'default', match: { prefix: '/' }, cluster: out.c.name! })]),
        routes('inbound-8091', [route({ name: 'default', match: { prefix: '/' }, cluster: inbound.c.name! })]),
      ],
      clusters: [out.c, inbound.c],
      endpoints: [out.e, inbound.e],
    });
  };
  push(0);
  await until(() => (proxy.listeners.boundPort('in_8091') ?? 0) > 0 && (proxy.listeners.boundPort('out_8091') ?? 0) > 0, 10_000, 'listeners');
  push(proxy.listeners.boundPort('in_8091')!);
  outPort = proxy.listeners.boundPort('out_8091')!;
  await until(async () => (await request(outPort, '/warm')).status === 200, 10_000, 'route to the inbound side');
  exporter.reset();
}, 60_000);

afterAll(async () => {
  proxy?.stop();
  await cp?.close();
  await app?.close();
});

describe('telemetry on both sides of a hop', () => {
  it('one trace: the outbound CLIENT span is the parent of the inbound SERVER span; W3C and B3 reach the app', async () => {
    const r = await request(outPort, '/callme/ping', { headers: { host: 'callme.shop.svc.cluster.local:8091', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    expect(r.status).toBe(200);
    await until(() => exporter.getFinishedSpans().length >= 2, 5000, 'two spans');
    const spans = exporter.getFinishedSpans();
    const client = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(client.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(server.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
    expect(app.lastHeaders.traceparent).toContain(server.spanContext().spanId);
    expect(app.lastHeaders['x-b3-traceid']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(app.lastHeaders['x-envoy-peer-metadata']).toBeUndefined();
    expect(r.headers['x-envoy-peer-metadata']).toBeDefined();
  });

  it('each side labels the request with its own workload and the peer\'s', async () => {
    await until(() => /reporter="destination"/.test(serverSide.recorder.metrics.registry.expose()), 5000, 'inbound metrics');
    const inbound = serverSide.recorder.metrics.registry.expose();
    expect(inbound).toMatch(/istio_requests_total\{reporter="destination",source_workload="caller-v1",source_workload_namespace="shop",[^}]*source_app="caller",source_version="v1",[^}]*destination_workload="callme-v2",[^}]*destination_app="callme",destination_version="v2",[^}]*destination_service="callme.shop.svc.cluster.local"[^}]*response_code="200"/);
    const outbound = clientSide.recorder.metrics.registry.expose();
    expect(outbound).toMatch(/istio_requests_total\{reporter="source",source_workload="caller-v1",[^}]*destination_service="callme.shop.svc.cluster.local",destination_service_name="callme",destination_service_namespace="shop"[^}]*response_code="200"/);
  });
});
