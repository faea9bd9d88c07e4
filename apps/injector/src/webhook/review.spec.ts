import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch } from '../../test/json-patch';
import { expectGolden } from '../../test/golden';
import { podSchemaErrors } from '../../test/k8s-schema';
import { DEFAULT_CONFIG } from '../inject/config';
import { handleReview, type NamespaceLabels } from './review';

const testdata = resolve(import.meta.dirname, '../../testdata');
const fixtureDir = join(testdata, 'admission-review');
const fixtures = readdirSync(fixtureDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
const load = (name: string) => JSON.parse(readFileSync(join(fixtureDir, `${name}.json`), 'utf8')) as {
  request: { uid: string; object: V1Pod };
};

/** Namespaces the fixtures use: default is enabled, plain has no label, off is disabled. */
const NAMESPACES: Record<string, Record<string, string>> = {
  default: { 'istio-injection': 'enabled', 'kubernetes.io/metadata.name': 'default' },
  plain: { 'kubernetes.io/metadata.name': 'plain' },
  off: { 'istio-injection': 'disabled', 'kubernetes.io/metadata.name': 'off' },
};
const namespaceLabels: NamespaceLabels = async (ns) => NAMESPACES[ns] ?? {};
const deps = { config: DEFAULT_CONFIG, namespaceLabels };

/** What each recorded review must lead to. */
const EXPECTED: Record<string, 'inject' | 'allow' | 'deny'> = {
  'bare-pod.enabled-namespace': 'inject',
  'deployment-pod.annotation-inject-false': 'allow',
  'deployment-pod.bad-traffic-annotation': 'deny',
  'deployment-pod.disabled-namespace': 'allow',
  'deployment-pod.enabled-namespace': 'inject',
  'deployment-pod.init-containers-and-volumes': 'inject',
  'deployment-pod.label-inject-false': 'allow',
  'deployment-pod.label-inject-true': 'inject',
  'deployment-pod.traffic-annotations': 'inject',
  'deployment-pod.unlabelled-namespace': 'allow',
  'host-network-pod.enabled-namespace': 'allow',
  'job-pod.enabled-namespace': 'inject',
  'malformed.missing-uid': 'deny',
  'malformed.pod-without-containers': 'deny',
  'malformed.wrong-kind': 'deny',
  'service.enabled-namespace': 'allow',
  'update-pod.enabled-namespace': 'allow',
};

describe('AdmissionReview handling (recorded reviews)', () => {
  it('has an expectation for every fixture', () => {
    expect(fixtures.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const name of fixtures) {
    it(`${name}: ${EXPECTED[name]}`, async () => {
      const body = load(name);
      const { review, patch } = await handleReview(body, deps);
      expect(review.apiVersion).toBe('admission.k8s.io/v1');
      expect(review.kind).toBe('AdmissionReview');
      expect(review.response.uid).toBe(body.request?.uid ?? '');
      const outcome = !review.response.allowed ? 'deny' : review.response.patch ? 'inject' : 'allow';
      expect(outcome, JSON.stringify(review.response.status)).toBe(EXPECTED[name]);
      if (outcome === 'deny') {
        expect(review.response.status?.message).toBeTruthy();
        expectGolden(join(testdata, 'golden/webhook', `${name}.error.txt`), `${review.response.status!.code} ${review.response.status!.message}\n`);
        return;
      }
      if (outcome === 'allow') return;
      expect(review.response.patchType).toBe('JSONPatch');
      const decoded = JSON.parse(Buffer.from(review.response.patch!, 'base64').toString('utf8'));
      expect(decoded).toEqual(patch);
      const patched = applyPatch(body.request.object, decoded) as V1Pod;
      expect(podSchemaErrors(patched)).toEqual([]);
      expectGolden(join(testdata, 'golden/webhook', `${name}.patched-pod.yaml`), stringify(patched, { lineWidth: 0 }));

      // Idempotent: the patched pod, sent again, is left alone.
      const again = await handleReview({ ...body, request: { ...body.request, object: patched } }, deps);
      expect(again.review.response).toEqual({ uid: body.request.uid, allowed: true });
    });
  }

  it('puts istio-init then the native sidecar first among init containers, app init containers after', async () => {
    const { patch } = await handleReview(load('deployment-pod.init-containers-and-volumes'), deps);
    const pod = applyPatch(load('deployment-pod.init-containers-and-volumes').request.object, patch!) as V1Pod;
    expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['istio-init', 'istio-proxy', 'migrate']);
    expect(pod.spec!.initContainers![1].restartPolicy).toBe('Always');
    expect(pod.spec!.containers.map((c) => c.name)).toEqual(['todolist']);
    expect(pod.spec!.securityContext).toEqual({ runAsNonRoot: true, fsGroup: 2000 });
    expect(pod.spec!.volumes!.map((v) => v.name)).toEqual(['kube-api-access-7x2kq', 'data', 'istio-envoy', 'istio-data', 'istio-podinfo', 'istio-token', 'istiod-ca-cert']);
  });

  it('places istio-proxy among the containers when native sidecars are off', async () => {
    const body = load('deployment-pod.enabled-namespace');
    const { patch } = await handleReview(body, { ...deps, config: { ...DEFAULT_CONFIG, nativeSidecars: false } });
    const pod = applyPatch(body.request.object, patch!) as V1Pod;
    expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual(['istio-init']);
    expect(pod.spec!.containers.map((c) => c.name)).toEqual(['todolist', 'istio-proxy']);
    expect(pod.spec!.containers[1].restartPolicy).toBeUndefined();
    expect(podSchemaErrors(pod)).toEqual([]);
    expect(JSON.parse(pod.metadata!.annotations!['sidecar.istio.io/status']).containers).toEqual(['istio-proxy']);
  });

  it('sets the capture rules, identity env and workload from the pod', async () => {
    const body = load('deployment-pod.traffic-annotations');
    const { patch } = await handleReview(body, deps);
    const pod = applyPatch(body.request.object, patch!) as V1Pod;
    const init = pod.spec!.initContainers![0];
    expect(init.args).toEqual([
      'istio-iptables', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT',
      '-i', '10.96.0.0/12,10.244.0.0/16', '-x', '10.96.0.1/32', '-b', '8090,9000', '-d', '15090,15021,15020,9000',
      '-o', '5432,6379',
    ]);
    expect(init.securityContext!.capabilities!.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    const proxy = pod.spec!.initContainers![1];
    expect(proxy.securityContext!.runAsUser).toBe(1337);
    expect(proxy.resources!.requests).toEqual({ cpu: '50m', memory: '64Mi' });
    const env = Object.fromEntries(proxy.env!.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({
      POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', INSTANCE_IP: 'status.podIP',
      SERVICE_ACCOUNT: 'spec.serviceAccountName', ISTIO_META_WORKLOAD_NAME: 'caller-v1',
      ISTIO_META_OWNER: 'kubernetes://apis/apps/v1/namespaces/default/deployments/caller-v1',
      ISTIO_PROMETHEUS_ANNOTATIONS: '{"scrape":"true","port":"9000","path":"/metrics"}',
    });
    expect(pod.metadata!.annotations).toMatchObject({ 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus', 'prometheus.io/scrape': 'true' });
    expect(pod.metadata!.labels).toMatchObject({
      'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': 'caller', 'service.istio.io/canonical-revision': 'v1',
    });
  });

  it('rewrites app probes to the proxy and hands the originals over in ISTIO_KUBE_APP_PROBERS', async () => {
    const body = load('deployment-pod.enabled-namespace');
    const { patch } = await handleReview(body, { ...deps, config: { ...DEFAULT_CONFIG, rewriteAppProbes: true } });
    const pod = applyPatch(body.request.object, patch!) as V1Pod;
    expect(podSchemaErrors(pod)).toEqual([]);
    const app = pod.spec!.containers[0];
    expect(app.readinessProbe!.httpGet).toEqual({ path: '/app-health/todolist/readyz', port: 15020, scheme: 'HTTP' });
    expect(app.livenessProbe!.httpGet).toEqual({ path: '/app-health/todolist/livez', port: 15020, scheme: 'HTTP' });
    expect(app.livenessProbe!.tcpSocket).toBeUndefined();
    const probers = pod.spec!.initContainers![1].env!.find((e) => e.name === 'ISTIO_KUBE_APP_PROBERS')!.value!;
    expect(JSON.parse(probers)).toEqual({
      '/app-health/todolist/readyz': { httpGet: { path: '/healthz', port: 8000, scheme: 'HTTP' }, timeoutSeconds: 1 },
      '/app-health/todolist/livez': { tcpSocket: { port: 8000 }, timeoutSeconds: 1 },
    });
    const kept = await handleReview(body, { ...deps, config: { ...DEFAULT_CONFIG, rewriteAppProbes: false } });
    const unchanged = applyPatch(body.request.object, kept.patch!) as V1Pod;
    expect(unchanged.spec!.containers[0]).toEqual(body.request.object.spec!.containers[0]);
  });

  it("passes the proxy's log level from sidecar.istio.io/logLevel, and refuses an unknown one", async () => {
    const body = load('deployment-pod.enabled-namespace');
    const withLevel = (level: string) => ({
      ...body, request: { ...body.request, object: { ...body.request.object, metadata: { ...body.request.object.metadata, annotations: { 'sidecar.istio.io/logLevel': level } } } },
    });
    const { patch } = await handleReview(withLevel('debug'), deps);
    const pod = applyPatch(withLevel('debug').request.object, patch!) as V1Pod;
    expect(pod.spec!.initContainers![1].args).toEqual(['proxy', 'sidecar', '--domain', '$(POD_NAMESPACE).svc.cluster.local', '--proxyLogLevel=debug']);
    const { review } = await handleReview(withLevel('loud'), deps);
    expect(review.response.status!.message).toBe(
      'Pod default/todolist-v1-6d8f7c9b5d-<generated>: metadata.annotations[sidecar.istio.io/logLevel]: "loud" is not a log level (trace, debug, info, warning, error, critical, off)',
    );
  });

  it('answers in the apiVersion it was asked in (v1beta1 too)', async () => {
    const body = { ...load('deployment-pod.enabled-namespace'), apiVersion: 'admission.k8s.io/v1beta1' };
    const { review } = await handleReview(body, deps);
    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(review.response.patchType).toBe('JSONPatch');
  });

  it('trusts the webhook selectors when namespace labels cannot be looked up', async () => {
    const { review } = await handleReview(load('deployment-pod.unlabelled-namespace'), { config: DEFAULT_CONFIG });
    expect(review.response.patchType).toBe('JSONPatch');
    const optOut = await handleReview(load('deployment-pod.annotation-inject-false'), { config: DEFAULT_CONFIG });
    expect(optOut.review.response.patch).toBeUndefined();
  });

  it('answers bad input with an error naming what and why, never throwing', async () => {
    for (const bad of [null, 42, 'text', [], {}, { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }]) {
      const { review } = await handleReview(bad, deps);
      expect(review.response.allowed).toBe(false);
      expect(review.response.status!.message).toMatch(/^malformed AdmissionReview: /);
    }
    const body = load('deployment-pod.enabled-namespace');
    const broken = { ...body, request: { ...body.request, object: { ...body.request.object, metadata: { labels: { app: 7 } } } } };
    const { review } = await handleReview(broken, deps);
    expect(review.response.status!.message).toBe('Pod default/<generated>: metadata.labels[app]: must be a string');
  });
});
