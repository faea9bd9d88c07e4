/**
 * End-to-end scenarios, written once and run by the driver named in E2E_DRIVER (`local` by
 * default: the local runtime on this machine; `kind`: a kind cluster). One mesh per run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driverFromEnv } from '../src/drivers/index';
import { burst, closeLoad, share, steady } from '../src/load';
import { callmeAuthz, callmeOutlierDetection, callmeRouting, callmeV2Rollout, gatewayAuthz, peerAuthentication, todolistCanary } from '../src/config';
import { eventually, fromPod, tlsProbe } from '../src/mesh-client';
import { gatewayApiL4Samples, gatewayApiSample, gatewayApiSamples, L4_GATEWAY, requestsTotal, SAMPLE_GATEWAY } from '../src/gateway-api';
import { connect as tcpConnect } from 'node:net';
import { createRootCa, createWorkloadCert } from '@tsmesh/certs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ARTIFACTS, browserUnavailable, launchBrowser, startDashboardProcess } from '../src/dashboard';
import { operatorScenarios } from './operator';

const driver = driverFromEnv((line) => process.env.E2E_VERBOSE && console.log(line));
const skipReason = await driver.unavailable();
if (skipReason) console.warn(`e2e (${driver.name} driver) skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(`mesh on the ${driver.name} driver`, () => {
  beforeAll(async () => {
    await driver.up();
    // Pods are ready; wait until the gateway has its routes and endpoints too (as a rollout would).
    const serving = await eventually(async () => (await burst(20, 5, `${driver.gatewayHttp()}/`)).every((s) => s.status === 200), 60_000, 500);
    if (!serving) throw new Error('the ingress gateway did not serve todolist within 60 s of every pod being ready');
  });
  afterAll(async () => {
    await closeLoad();
    await driver.down();
  });

  describe('canary through the ingress gateway', () => {
    const isV2 = (s: { headers: Record<string, unknown> }) => s.headers['x-version'] === 'v2';

    it('splits todolist 90/10: v2 is 10 ± 3 % of 1,000 requests', async () => {
      const samples = await burst(1000, 20, `${driver.gatewayHttp()}/`);
      const failed = samples.filter((s) => s.status !== 200);
      expect(failed.length, failed.slice(0, 3).map((s) => `${s.status} ${s.error ?? s.body.slice(0, 80)}`).join('; ')).toBe(0);
      const v2 = share(samples, isV2) * 100;
      expect(v2).toBeGreaterThanOrEqual(7);
      expect(v2).toBeLessThanOrEqual(13);
      expect(samples.find(isV2)?.body).toMatch(/v2/);
    });

    it('moves to 50/50 and then 0/100 under steady load within 2 s, with no failed request', async () => {
      const url = `${driver.gatewayHttp()}/`;
      const load = steady(url, 100, 9000);
      await new Promise((r) => setTimeout(r, 1000));
      const t50 = Date.now();
      await driver.apply(todolistCanary(50, 50));
      await new Promise((r) => setTimeout(r, 3500));
      const t100 = Date.now();
      await driver.apply(todolistCanary(0, 100));
      const samples = await load;
      const failed = samples.filter((s) => s.status !== 200);
      expect(failed.length, failed.slice(0, 3).map((s) => `${s.status} ${s.error ?? ''}`).join('; ')).toBe(0);
      const window50 = samples.filter((s) => s.at >= t50 + 2000 && s.at < t100);
      expect(share(window50, isV2)).toBeGreaterThan(0.3);
      expect(share(window50, isV2)).toBeLessThan(0.7);
      const after100 = samples.filter((s) => s.at >= t100 + 2000);
      expect(after100.length).toBeGreaterThan(100);
      expect(share(after100, isV2)).toBe(1);
      await driver.apply(todolistCanary(90, 10));
    });
  });

  describe('gateway policy and rejected config', () => {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const r = await fetch(`${driver.gatewayHttp()}${path}`, { headers });
      return { status: r.status, body: await r.text() };
    };

    it('the DENY for /api/version selecting istio: ingressgateway is enforced by the gateway; other paths are served', async () => {
      await driver.apply(gatewayAuthz('deny-version', 'DENY', `  - to:
    - operation:
        paths: ["/api/version"]
`));
      let last = '';
      const denied = await eventually(async () => {
        const [v, root] = [await get('/api/version'), await get('/')];
        last = `/api/version ${v.status} ${v.body.slice(0, 60)}; / ${root.status}`;
        return v.status === 403 && root.status === 200;
      }, 30_000, 500);
      expect(denied, last).toBe(true);
      expect((await get('/api/version')).body).not.toMatch(/"version"/);
      await driver.apply(gatewayAuthz('deny-version', 'DENY', `  - to:
    - operation:
        paths: ["/nothing"]
`));
      expect(await eventually(async () => (await get('/api/version')).status === 200, 30_000, 500)).toBe(true);
    });

    it('a DENY with an unknown condition key is refused, reported, and still denies (fail closed)', async () => {
      await driver.apply(gatewayAuthz('deny-bad-key', 'DENY', `  - to:
    - operation:
        paths: ["/api/version"]
    when:
    - key: request.header[x-bad]
      values: ["1"]
`));
      const denied = await eventually(async () => (await get('/api/version')).status === 403, 30_000, 500);
      const issues = await (await fetch(`${driver.controlPlane()}/debug/config_issues?format=text`)).text();
      expect(denied).toBe(true);
      expect(issues).toMatch(/AuthorizationPolicy istio-system\/deny-bad-key: spec\.rules\[0\]\.when\[0\]\.key: unknown condition key "request\.header\[x-bad\]".*enforced fail-closed/);
      await driver.apply(gatewayAuthz('deny-bad-key', 'DENY', `  - to:
    - operation:
        paths: ["/nothing"]
`));
      expect(await eventually(async () => (await get('/api/version')).status === 200, 30_000, 500)).toBe(true);
    });

    it('a rejected update of the todolist VirtualService keeps the last good version serving, and says so', async () => {
      await driver.apply(todolistCanary(0, 0));
      const reported = await eventually(async () => /VirtualService default\/todolist: .*kept version from /.test(await (await fetch(`${driver.controlPlane()}/debug/config_issues?format=text`)).text()), 30_000, 500);
      expect(reported).toBe(true);
      const samples = await burst(100, 10, `${driver.gatewayHttp()}/`);
      expect(samples.filter((s) => s.status !== 200).map((s) => s.status)).toEqual([]);
      await driver.apply(todolistCanary(90, 10));
    });
  });

  describe('gateway TLS', () => {
    const request = 'GET / HTTP/1.1\r\nHost: todolist.example.com\r\nConnection: close\r\n\r\n';

    it('serves HTTPS on 443 with the certificate of the credentialName Secret, verified with SNI', async () => {
      const { host, port } = driver.gatewayHttps();
      const ca = await driver.rootCertPem();
      const r = await tlsProbe({ host, port, servername: 'todolist.example.com', ca, request });
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.response).toMatch(/^HTTP\/1\.1 200/);
      expect(r.cert?.subjectaltname).toContain('DNS:todolist.example.com');
    });

    it('fails a client that verifies a name the certificate does not carry', async () => {
      const { host, port } = driver.gatewayHttps();
      const r = await tlsProbe({ host, port, servername: 'wrong.example.org', ca: await driver.rootCertPem() });
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/altnames|does not match|hostname|alert|handshake/i);
    });

    it('serves a rotated Secret without restarting the gateway', async () => {
      const { host, port } = driver.gatewayHttps();
      const ca = await driver.rootCertPem();
      const before = await tlsProbe({ host, port, servername: 'todolist.example.com', ca });
      const restarts = driver.restarts('istio-system', { app: 'istio-ingressgateway' }, 'istio-proxy');
      await driver.rotateGatewayCert(['todolist.example.com', 'rotated.example.com', 'localhost']);
      const rotated = await eventually(async () => {
        const r = await tlsProbe({ host, port, servername: 'rotated.example.com', ca });
        return r.ok && r.cert?.fingerprint256 !== before.cert?.fingerprint256;
      }, 15_000);
      expect(rotated).toBe(true);
      expect(driver.restarts('istio-system', { app: 'istio-ingressgateway' }, 'istio-proxy')).toBe(restarts);
    });
  });

  describe('mutual TLS between sidecars', () => {
    const callme = { app: 'callme-service' };
    const caller = { app: 'caller-service' };

    it('with STRICT, caller reaches callme and callme’s sidecar sees caller’s SPIFFE ID', async () => {
      await driver.apply(peerAuthentication('STRICT'));
      await new Promise((r) => setTimeout(r, 2000));
      const samples = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: ['/callme/ping'], n: 20, concurrency: 4 });
      expect(samples.filter((s) => s.status !== 200).map((s) => `${s.status} ${s.error ?? s.body}`)).toEqual([]);
      expect(samples[0].body).toMatch(/^callme-service:v[12]/);
      const ip = driver.podIP('default', { app: 'callme-service', version: 'v2' });
      const seen = await eventually(async () => {
        const text = await fetch(`http://${ip}:15090/stats/prometheus`).then((r) => r.text()).catch(() => '');
        return /istio_requests_total\{[^}]*reporter="destination"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/caller-service"/.test(text);
      }, 10_000);
      expect(seen).toBe(true);
    });

    it('refuses a plaintext client from outside the mesh', async () => {
      const ip = driver.podIP('default', callme);
      const r = await fetch(`http://${ip}:8091/callme/ping`, { signal: AbortSignal.timeout(5000) }).then((x) => `HTTP ${x.status}`, (e: Error) => `error: ${e.cause instanceof Error ? e.cause.message : e.message}`);
      expect(r).toMatch(/^error/);
    });

    it('refuses a client whose certificate comes from another root', async () => {
      const ip = driver.podIP('default', callme);
      const other = await createRootCa({ subject: 'O=elsewhere' });
      const wl = await createWorkloadCert(other, { identity: { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'caller-service' } });
      const r = await tlsProbe({ host: ip, port: 8091, cert: wl.chainPem, key: wl.keyPem, alpn: ['istio', 'http/1.1'], rejectUnauthorized: false, request: 'GET /callme/ping HTTP/1.1\r\nHost: callme-service\r\n\r\n' });
      expect(r.response ?? '').not.toMatch(/^HTTP\/1\.1 200/);
    });

    it('puts only TLS on the wire between pods (checked on the bridge)', async () => {
      const watch = await driver.watchWire('GET /callme/ping');
      try {
        const samples = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: ['/callme/ping'], n: 10 });
        expect(samples.every((s) => s.status === 200)).toBe(true);
        expect(await watch.packets()).toBe(0);
        // Positive control: the same request in plaintext between the same pods is seen on the
        // wire (sent as UID 1337, which the capture rules leave alone, to a PERMISSIVE callme).
        await driver.apply(peerAuthentication('PERMISSIVE'));
        const ip = driver.podIP('default', callme);
        const plain = await eventually(async () => {
          const s = await fromPod(driver, 'default', caller, { host: ip, port: 8091, paths: ['/callme/ping'] }, { uid: 1337 });
          return s[0].status === 200;
        }, 30_000, 500);
        expect(plain).toBe(true);
        expect(await watch.packets()).toBeGreaterThan(0);
      } finally {
        await watch.remove();
      }
    });
  });

  describe('fault injection and resilience', () => {
    const caller = { app: 'caller-service' };

    it('splits callme 20/80 with 10 % 5 s delays and 10 % HTTP 500, each within tolerance', async () => {
      await driver.apply(callmeRouting({ v1: 20, v2: 80, delayPct: 10, abortPct: 10 }));
      await new Promise((r) => setTimeout(r, 2000));
      const n = 400;
      const s = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: ['/callme/ping'], n, concurrency: 100, timeoutMs: 20_000 });
      const aborted = s.filter((x) => x.status === 500).length / n;
      const delayed = s.filter((x) => x.ms >= 4900).length / n;
      const ok = s.filter((x) => x.status === 200);
      const v2 = ok.filter((x) => x.body.startsWith('callme-service:v2')).length / ok.length;
      expect(aborted).toBeGreaterThan(0.05);
      expect(aborted).toBeLessThan(0.15);
      expect(delayed).toBeGreaterThan(0.05);
      expect(delayed).toBeLessThan(0.15);
      expect(v2).toBeGreaterThan(0.72);
      expect(v2).toBeLessThan(0.88);
      expect(s.filter((x) => x.status !== 200 && x.status !== 500)).toEqual([]);
    });

    it('hides a killed endpoint with retries and outlier detection: no failed request', async () => {
      await driver.apply(callmeOutlierDetection());
      // Every callme endpoint (v1 and v2) behind one route, so another endpoint can take over.
      await driver.apply(callmeRouting({ v1: 0, v2: 0, retries: true }));
      await new Promise((r) => setTimeout(r, 2000));
      const load = fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: ['/callme/ping'], n: 1000, concurrency: 4 });
      await new Promise((r) => setTimeout(r, 500));
      await driver.killContainer('default', { app: 'callme-service', version: 'v1' }, 'callme-service');
      const s = await load;
      expect(s.filter((x) => x.status !== 200).map((x) => `${x.status} ${x.error ?? x.body}`).slice(0, 5)).toEqual([]);
      // The killed container is restarted (the restart is counted once its exit is seen, which on a
      // loaded machine can come after the load ends) and its pod is ready again.
      expect(await eventually(async () => driver.restarts('default', { app: 'callme-service', version: 'v1' }, 'callme-service') >= 1, 30_000, 250)).toBe(true);
      await driver.waitReady(60_000);
    });
  });

  describe('authorization', () => {
    const caller = { app: 'caller-service' };
    const todolist = { app: 'todolist', version: 'v1' };

    it('DENY blocks a path and its encoded and non-normalised variants', async () => {
      await driver.apply(peerAuthentication('STRICT'));
      await driver.apply(callmeRouting({ v1: 20, v2: 80 }));
      await driver.apply(callmeAuthz('deny-ping', 'DENY', `    - to:
        - operation:
            paths: ["/callme/ping"]
`));
      // Forms that normalise to the denied path are refused by the policy; encoded forms either
      // normalise to it (refused) or stay distinct paths the app does not serve. None reaches it.
      const normalising = ['/callme/ping', '/callme//ping', '/callme/./ping', '/callme/x/../ping', '/callme/ping?x=1', '/callme/ping#frag'];
      const encoded = ['/callme/%70ing', '/callme%2Fping', '/callme%2fping', '/callme/ping%23x'];
      const blocked = await eventually(async () => {
        const s = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: normalising });
        return s.every((x) => x.status === 403);
      }, 30_000, 500);
      const s = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: [...normalising, ...encoded] });
      expect(blocked, JSON.stringify(s.map((x) => [x.path, x.status]))).toBe(true);
      for (const x of s) expect(x.body, `${x.path} reached callme`).not.toMatch(/^callme-service:v/);
    });

    it('ALLOW lets only the named principal through', async () => {
      await driver.apply(callmeAuthz('deny-ping', 'DENY', `    - to:
        - operation:
            paths: ["/nothing"]
`));
      await driver.apply(callmeAuthz('allow-caller', 'ALLOW', `    - from:
        - source:
            principals: ["cluster.local/ns/default/sa/caller-service"]
`));
      let last = '';
      const ok = await eventually(async () => {
        const a = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: ['/callme/ping'] });
        const b = await fromPod(driver, 'default', todolist, { host: 'callme-service', port: 8091, paths: ['/callme/ping'] });
        last = `caller: ${a[0].status} ${a[0].error ?? a[0].body}; todolist: ${b[0].status} ${b[0].error ?? b[0].body}`;
        return a[0].status === 200 && b[0].status === 403;
      }, 30_000, 500);
      expect(ok, last).toBe(true);
    });
  });

  describe('StatefulSet behind a headless Service', () => {
    const caller = { app: 'caller-service' };
    const sts = `
apiVersion: v1
kind: Service
metadata: { name: callme-db, namespace: default, labels: { app: callme-db } }
spec:
  clusterIP: None
  selector: { app: callme-db }
  ports: [{ name: http, port: 8091, targetPort: 8091 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: callme-db, namespace: default }
spec:
  serviceName: callme-db
  replicas: 2
  selector: { matchLabels: { app: callme-db } }
  template:
    metadata: { labels: { app: callme-db } }
    spec:
      serviceAccountName: callme-service
      containers:
        - name: callme-service
          image: tsmesh/callme:latest
          env:
            - name: VERSION
              valueFrom: { fieldRef: { fieldPath: metadata.name } }
            - { name: PORT, value: "8091" }
          ports: [{ name: http, containerPort: 8091 }]
          readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 2 }
`;

    it('reaches each pod by its per-pod DNS name through the sidecars with mTLS (STRICT)', async () => {
      await driver.apply(peerAuthentication('STRICT'));
      await driver.apply(sts);
      await driver.waitReady(120_000);
      try {
      for (const pod of ['callme-db-0', 'callme-db-1']) {
        const host = `${pod}.callme-db.default.svc.cluster.local`;
        const ok = await eventually(async () => {
          const s = await fromPod(driver, 'default', caller, { host, port: 8091, paths: ['/callme/ping'], n: 5 });
          return s.every((x) => x.status === 200 && x.body === `callme-service:${pod}`);
        }, 60_000, 1000);
        expect(ok, host).toBe(true);
      }
      // The server side saw caller's SPIFFE ID: the request went sidecar to sidecar over mTLS.
      const ip = driver.podIP('default', { app: 'callme-db', 'statefulset.kubernetes.io/pod-name': 'callme-db-1' });
      const seen = await eventually(async () => {
        const text = await fetch(`http://${ip}:15090/stats/prometheus`).then((r) => r.text()).catch(() => '');
        return /istio_requests_total\{[^}]*reporter="destination"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/caller-service"/.test(text);
      }, 10_000);
      expect(seen).toBe(true);
      } finally {
        await driver.apply(peerAuthentication('PERMISSIVE'));
      }
    });
  });

  describe('rolling update under load', () => {
    it('rolls callme v2 to a new template under 100 rps through the gateway and both sidecars with no failed request', async () => {
      // Every callme request to v2, so the rollout replaces the pods serving the load. A connection
      // to a pod that has just gone fails after 1 s (not Istio's default 10 s) and is retried on
      // another endpoint, as a user tunes a DestinationRule for rollouts.
      await driver.apply(callmeOutlierDetection({ connectTimeout: '1s' }));
      await driver.apply(callmeRouting({ v1: 0, v2: 100 }));
      const url = `${driver.gatewayHttp()}/caller/ping`;
      const routed = await eventually(async () => (await burst(20, 5, url)).every((s) => s.status === 200 && /callme-service:v2$/.test(s.body.trim())), 30_000, 500);
      expect(routed).toBe(true);
      const load = steady(url, 100, 25_000);
      await new Promise((r) => setTimeout(r, 2000));
      const started = Date.now();
      // maxSurge 1, maxUnavailable 0, minReadySeconds 3: the new pod must be Ready for 3 s (its
      // endpoint pushed to the sidecars) before the old one leaves its endpoints, and the old one
      // leaves its endpoints before it is sent SIGTERM.
      await driver.apply(callmeV2Rollout('v2.1'));
      await driver.rolloutStatus('default', 'callme-service-v2', 60_000);
      const done = Date.now();
      const samples = await load;
      const failed = samples.filter((s) => s.status !== 200);
      expect(failed.length, failed.slice(0, 5).map((s) => `${s.status} ${s.error ?? s.body.slice(0, 120)}`).join('; ')).toBe(0);
      expect(samples.length).toBe(2500);
      expect(done, 'the rollout completed while the load ran').toBeLessThan(started + 20_000);
      // The old template served before the rollout, only the new one once it was complete.
      expect(samples.filter((s) => s.at < started).every((s) => /callme-service:v2$/.test(s.body.trim()))).toBe(true);
      const after = samples.filter((s) => s.at > done + 3000);
      expect(after.length).toBeGreaterThan(100);
      expect(after.filter((s) => !/callme-service:v2\.1$/.test(s.body.trim())).map((s) => s.body.slice(0, 80)).slice(0, 3)).toEqual([]);
    });
  });

  describe('Kubernetes Gateway API (infra/k8s/gateway-api)', () => {
    const isV2 = (s: { headers: Record<string, unknown> }) => s.headers['x-version'] === 'v2';
    const caller = { app: 'caller-service' };
    let http = '';
    let https = { host: '', port: 0 };

    beforeAll(async () => {
      await driver.issueTlsSecret('default', 'todolist-gateway-cert', ['todolist.example.com']);
      await driver.apply(gatewayApiSamples());
      // The Gateway has no addresses: its Deployment and Service are made for it (automated deployment).
      await driver.waitReady(120_000);
      const a = await driver.serviceAddress(SAMPLE_GATEWAY.namespace, SAMPLE_GATEWAY.service, 80);
      http = `http://${a.host}:${a.port}`;
      https = await driver.serviceAddress(SAMPLE_GATEWAY.namespace, SAMPLE_GATEWAY.service, 443);
      const serving = await eventually(async () => (await burst(10, 5, `${http}/`)).every((s) => s.status === 200), 60_000, 500);
      if (!serving) throw new Error(`the Gateway todolist-gateway's deployment did not serve todolist within 60 s (${http})`);
    }, 240_000);

    it('the control plane writes the status back: Gateway Programmed with its Service address, the route Accepted with its backends resolved', async () => {
      let last = '';
      const written = await eventually(async () => {
        const gw = await driver.gatewayApiStatus('Gateway', SAMPLE_GATEWAY.namespace, SAMPLE_GATEWAY.name);
        const route = await driver.gatewayApiStatus('HTTPRoute', SAMPLE_GATEWAY.namespace, 'todolist');
        last = JSON.stringify({ gw, route }).slice(0, 400);
        const programmed = (gw?.conditions as { type: string; status: string }[] | undefined)?.some((c) => c.type === 'Programmed' && c.status === 'True');
        const addr = (gw?.addresses as { value: string }[] | undefined)?.[0]?.value;
        const parents = (route?.parents as { conditions: { type: string; status: string }[] }[] | undefined) ?? [];
        return !!programmed && !!addr && (driver.name !== 'local' || addr === https.host) && parents.length > 0 && parents.every((p) => p.conditions.every((c) => c.status === 'True'));
      }, 20_000, 500);
      expect(written, last).toBe(true);
    });

    it('the HTTPRoute splits todolist 90/10 between the per-version Services through the deployed Gateway', async () => {
      const samples = await burst(1000, 20, `${http}/`);
      const failed = samples.filter((s) => s.status !== 200);
      expect(failed.length, failed.slice(0, 3).map((s) => `${s.status} ${s.error ?? s.body.slice(0, 80)}`).join('; ')).toBe(0);
      const v2 = share(samples, isV2) * 100;
      expect(v2).toBeGreaterThanOrEqual(7);
      expect(v2).toBeLessThanOrEqual(13);
    });

    it('the HTTPS listener serves its certificateRef Secret for its hostname, and a rotated Secret without a restart', async () => {
      const ca = await driver.rootCertPem();
      const request = 'GET / HTTP/1.1\r\nHost: todolist.example.com\r\nConnection: close\r\n\r\n';
      const before = await tlsProbe({ ...https, servername: 'todolist.example.com', ca, request });
      expect(before.error).toBeUndefined();
      expect(before.response).toMatch(/^HTTP\/1\.1 200/);
      expect(before.cert?.subjectaltname).toBe('DNS:todolist.example.com');
      const restarts = driver.restarts(SAMPLE_GATEWAY.namespace, SAMPLE_GATEWAY.labels, 'istio-proxy');
      await driver.issueTlsSecret('default', 'todolist-gateway-cert', ['todolist.example.com', 'rotated.example.com']);
      let last = '';
      const rotated = await eventually(async () => {
        const r = await tlsProbe({ ...https, servername: 'todolist.example.com', ca, request });
        last = `${r.error ?? ''} ${r.cert?.subjectaltname ?? ''}`;
        return r.ok && r.cert?.fingerprint256 !== before.cert?.fingerprint256 && /rotated\.example\.com/.test(r.cert?.subjectaltname ?? '') && /^HTTP\/1\.1 200/.test(r.response ?? '');
      }, 20_000);
      expect(rotated, last).toBe(true);
      expect(driver.restarts(SAMPLE_GATEWAY.namespace, SAMPLE_GATEWAY.labels, 'istio-proxy')).toBe(restarts);
    });

    it('a GAMMA HTTPRoute splits caller → callme 20/80 between the per-version Services, over mTLS (STRICT)', async () => {
      await driver.apply(peerAuthentication('STRICT'));
      // Istio's VirtualService for callme-service is older and would win: without it the route decides.
      await driver.delete(callmeRouting({ v1: 20, v2: 80 }));
      const syncz = await (await fetch(`${driver.controlPlane()}/debug/syncz`)).json() as { proxy: string; pod: string }[];
      const node = syncz.find((p) => p.pod.startsWith('caller-service'))?.proxy;
      expect(node, 'caller-service sidecar connected').toBeDefined();
      // The caller sidecar's virtual host for callme-service routes to the per-version Services' clusters.
      const routed = await eventually(async () => {
        const dump = await (await fetch(`${driver.controlPlane()}/debug/config_dump?proxyID=${encodeURIComponent(node!)}`)).json() as { resources: { RouteConfiguration?: { virtual_hosts?: { domains: string[] }[]; virtualHosts?: { domains: string[] }[] }[] } };
        const hosts = (dump.resources.RouteConfiguration ?? []).flatMap((rc) => rc.virtual_hosts ?? rc.virtualHosts ?? []);
        const callme = hosts.find((h) => h.domains.includes('callme-service'));
        return !!callme && JSON.stringify(callme).includes('outbound|8091||callme-service-v2.default.svc.cluster.local');
      }, 30_000, 500);
      expect(routed).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      const v2ip = driver.podIP('default', { app: 'callme-service', version: 'v2' });
      const mtlsFromCaller = { reporter: 'destination', source_principal: 'spiffe://cluster.local/ns/default/sa/caller-service', connection_security_policy: 'mutual_tls' };
      const metrics = () => fetch(`http://${v2ip}:15090/stats/prometheus`).then((r) => r.text());
      const before = requestsTotal(await metrics(), mtlsFromCaller);
      const n = 300;
      const s = await fromPod(driver, 'default', caller, { host: 'callme-service', port: 8091, paths: ['/callme/ping'], n, concurrency: 10 });
      expect(s.filter((x) => x.status !== 200).map((x) => `${x.status} ${x.error ?? x.body}`).slice(0, 3)).toEqual([]);
      const v2 = s.filter((x) => x.body.startsWith('callme-service:v2')).length;
      expect(v2 / n).toBeGreaterThan(0.72);
      expect(v2 / n).toBeLessThan(0.88);
      // callme v2's sidecar counted them as mTLS requests from caller's identity.
      const counted = await eventually(async () => requestsTotal(await metrics(), mtlsFromCaller) - before >= v2, 10_000, 500);
      expect(counted).toBe(true);
      await driver.apply(callmeRouting({ v1: 20, v2: 80 }));
      await driver.delete(gatewayApiSample('HTTPRoute', 'callme-split'));
    });

    it('deleting the Gateway removes its deployment', async () => {
      await driver.delete(gatewayApiSample('Gateway', SAMPLE_GATEWAY.name));
      const gone = await eventually(async () => fetch(`${http}/`, { signal: AbortSignal.timeout(1500) }).then(() => false, () => true), 30_000, 500);
      expect(gone).toBe(true);
    });
  });

  describe('Kubernetes Gateway API TLS passthrough and TCP (TLSRoute, TCPRoute)', () => {
    let tlsAddr = { host: '', port: 0 };
    let tcpAddr = { host: '', port: 0 };

    beforeAll(async () => {
      // The TCPRoute's backend is the samples' per-version Service (applied again: this block stands alone).
      await driver.apply(gatewayApiSample('Service', 'todolist-v1'));
      await driver.apply(gatewayApiL4Samples());
      await driver.waitReady(120_000);
      tlsAddr = await driver.serviceAddress(L4_GATEWAY.namespace, L4_GATEWAY.service, 443);
      tcpAddr = await driver.serviceAddress(L4_GATEWAY.namespace, L4_GATEWAY.service, 9000);
    }, 240_000);

    afterAll(async () => {
      await driver.delete(gatewayApiL4Samples());
    });

    it('TLS Passthrough: the deployed Gateway routes by SNI to the TLS backend without terminating (the backend\'s certificate is seen)', async () => {
      let last = '';
      const passed = await eventually(async () => {
        const r = await tlsProbe({ ...tlsAddr, servername: L4_GATEWAY.sni, rejectUnauthorized: false });
        last = `${r.error ?? ''} ${r.cert?.subjectaltname ?? ''}`;
        // The injector's webhook certificate: only its own TLS server has it, so the gateway passed the bytes through.
        return r.ok && /istio-sidecar-injector\.istio-system\.svc/.test(r.cert?.subjectaltname ?? '');
      }, 60_000, 500);
      expect(passed, last).toBe(true);
      // An SNI no TLSRoute claims gets no handshake.
      const other = await tlsProbe({ ...tlsAddr, servername: 'other.example.com', rejectUnauthorized: false });
      expect(other.ok && !!other.cert).toBe(false);
    });

    it('TCP: a TCPRoute carries raw bytes to todolist-v1 through the deployed Gateway (over mTLS to its sidecar)', async () => {
      const once = () => new Promise<string>((resolve) => {
        const s = tcpConnect({ host: tcpAddr.host, port: tcpAddr.port }, () => s.write('GET / HTTP/1.1\r\nHost: todolist\r\nConnection: close\r\n\r\n'));
        let got = '';
        s.setTimeout(5000, () => s.destroy());
        s.on('data', (d: Buffer) => (got += d.toString('latin1')));
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
      });
      let last = '';
      const served = await eventually(async () => /^HTTP\/1\.1 200/.test((last = await once())), 60_000, 500);
      expect(served, last.slice(0, 200)).toBe(true);
      expect(last.toLowerCase()).toContain('x-version: v1');
    });

    it('the control plane writes the TLSRoute and TCPRoute status: Accepted, refs resolved, attached to their listeners', async () => {
      let last = '';
      const written = await eventually(async () => {
        const gw = await driver.gatewayApiStatus('Gateway', L4_GATEWAY.namespace, L4_GATEWAY.name);
        const routes = await Promise.all([driver.gatewayApiStatus('TLSRoute', 'default', 'injector-passthrough'), driver.gatewayApiStatus('TCPRoute', 'default', 'todolist-tcp')]);
        last = JSON.stringify({ gw: gw?.listeners, routes }).slice(0, 600);
        const listeners = (gw?.listeners as { name: string; attachedRoutes: number; supportedKinds: { kind: string }[] }[] | undefined) ?? [];
        const attached = listeners.map((l) => `${l.name}:${l.attachedRoutes}:${l.supportedKinds.map((k) => k.kind).join('+')}`).sort().join(' ');
        const ok = routes.every((r) => ((r?.parents as { conditions: { status: string }[] }[] | undefined) ?? []).length === 1
          && (r!.parents as { conditions: { status: string }[] }[])[0].conditions.every((c) => c.status === 'True'));
        return ok && attached === 'tcp:1:TCPRoute tls:1:TLSRoute';
      }, 20_000, 500);
      expect(written, last).toBe(true);
    });
  });

  describe("Istio dashboards' queries against Prometheus", () => {
    it('request rate, success rate, P99 by workload, pilot_xds, injections and every component up come back non-empty', async (ctx) => {
      const prom = driver.prometheus ? await driver.prometheus() : `the ${driver.name} driver has no Prometheus`;
      if (typeof prom === 'string') return ctx.skip(prom);
      // Traffic while Prometheus scrapes: gateway → todolist, gateway → caller → callme.
      const load = Promise.all([steady(`${driver.gatewayHttp()}/`, 20, 6000), steady(`${driver.gatewayHttp()}/caller/ping`, 10, 6000)]);
      type Vector = Awaited<ReturnType<typeof prom.query>>;
      // Waits until the result is non-empty (and `ok`, when given): targets are picked up within seconds.
      const vector = async (promql: string, ok: (v: Vector) => boolean = () => true) => {
        let last: Vector = [];
        await eventually(async () => (last = await prom.query(promql)).length > 0 && ok(last), 30_000, 1000);
        return last;
      };
      const rate = await vector('sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload)', (v) => v.some((r) => r.metric.destination_workload?.startsWith('todolist')));
      await load;
      const workloads = rate.map((r) => r.metric.destination_workload);
      expect(workloads.some((w) => w.startsWith('todolist')), JSON.stringify(workloads)).toBe(true);
      expect(Number(rate.find((r) => r.metric.destination_workload.startsWith('todolist'))!.value[1])).toBeGreaterThan(0);
      const caller = await vector('sum(rate(istio_requests_total{reporter="source",source_workload=~"caller.*"}[1m])) by (destination_service_name)', (v) => v.some((r) => r.metric.destination_service_name === 'callme-service'));
      expect(caller.map((r) => r.metric.destination_service_name)).toContain('callme-service');
      const success = await vector('sum(rate(istio_requests_total{reporter="destination",response_code!~"5.*"}[1m])) by (destination_service) / sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_service)');
      expect(success.length).toBeGreaterThan(0);
      const p99 = await vector('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1m])) by (le, destination_workload))');
      expect(p99.some((r) => Number.isFinite(Number(r.value[1])))).toBe(true);
      const mtls = await vector('sum(istio_requests_total{reporter="destination",connection_security_policy="mutual_tls"}) by (destination_workload)');
      expect(mtls.length).toBeGreaterThan(0);
      const xds = await vector('sum(pilot_xds{app="istiod"})');
      expect(Number(xds[0].value[1])).toBeGreaterThan(0);
      await vector('sum(rate(pilot_xds_pushes[5m]))');
      await vector('histogram_quantile(0.99, sum(rate(pilot_proxy_convergence_time_bucket[5m])) by (le))');
      const injected = await vector('sum(sidecar_injection_success_total{job="istio-sidecar-injector"})');
      expect(Number(injected[0].value[1])).toBeGreaterThan(0);
      const up = await vector('up', (v) => new Set(v.map((u) => u.metric.job)).size >= 4 && v.every((u) => u.value[1] === '1'));
      const byJob = new Map<string, number>();
      for (const u of up) byJob.set(u.metric.job, (byJob.get(u.metric.job) ?? 0) + Number(u.value[1]));
      expect(Object.fromEntries([...byJob].filter(([, n]) => n === 0))).toEqual({});
      expect([...byJob.keys()].sort()).toEqual(['istio-ca', 'istio-sidecar-injector', 'kubernetes-pods', 'prometheus']);
      expect(await prom.query('process_resident_memory_bytes{job="istio-ca"}')).not.toEqual([]);
    });
  });

  describe('the web dashboard in a browser', () => {
    it('shows todolist v1/v2 and caller → callme with locks, and the 50/50 canary moves the split within 10 s', async (ctx) => {
      const root = join(import.meta.dirname, '../..');
      const why = browserUnavailable(root);
      if (why) return ctx.skip(why);
      const prom = driver.prometheus ? await driver.prometheus() : undefined;
      const dash = await startDashboardProcess(root, { controlPlane: driver.controlPlane(), prometheus: typeof prom === 'object' ? prom.url : undefined, windowSeconds: 10 });
      const browser = await launchBrowser();
      let stopLoad = false;
      // gateway → todolist (v1/v2) and gateway → caller → callme, at a few requests a second
      const loop = async (url: string, rps: number) => {
        while (!stopLoad) await steady(url, rps, 1000);
      };
      const load = Promise.all([loop(`${driver.gatewayHttp()}/`, 30), loop(`${driver.gatewayHttp()}/caller/ping`, 5)]);
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`${dash.url}/`);
        const edges = () => page.$$eval('[data-testid=edge]', (rows) => rows.map((r) => ({ source: r.getAttribute('data-source'), target: r.getAttribute('data-target'), mtls: r.getAttribute('data-mtls') })));
        type Edge = Awaited<ReturnType<typeof edges>>[number];
        const has = (l: Edge[], src: RegExp, dst: RegExp, mtls?: boolean) => l.some((e) => src.test(e.source ?? '') && dst.test(e.target ?? '') && (mtls === undefined || e.mtls === String(mtls)));
        let seen: Edge[] = [];
        const drawn = await eventually(async () => {
          seen = await edges();
          return has(seen, /ingressgateway/, /\/todolist-v1$/) && has(seen, /ingressgateway/, /\/todolist-v2$/) && has(seen, /\/caller-service$/, /\/callme-service-v\d$/, true);
        }, 45_000, 1000);
        expect(drawn, JSON.stringify(seen)).toBe(true);
        // the canvas holds the same nodes, and a lock sits on every mTLS edge
        const nodes = await page.evaluate(() => (globalThis as unknown as { tsmeshGraph: { nodes(): { id(): string }[] } }).tsmeshGraph.nodes().map((n) => n.id()));
        expect(nodes).toEqual(expect.arrayContaining(['default/todolist-v1', 'default/todolist-v2', 'default/caller-service']));
        const mtlsEdges = await page.evaluate(() => (globalThis as unknown as { tsmeshGraph: { edges(s: string): { length: number } } }).tsmeshGraph.edges('.mtls').length);
        expect(mtlsEdges).toBeGreaterThan(0);
        await eventually(async () => (await page.$$('[data-testid=edge-lock]')).length === mtlsEdges, 5000, 250);
        expect(await page.$$('[data-testid=edge-lock]')).toHaveLength(mtlsEdges);
        expect(await page.textContent('[data-testid=source]')).toBe(typeof prom === 'object' ? 'from Prometheus' : "from the proxies' own metrics");
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-90-10.png'), fullPage: true });

        type El = { textContent: string | null; getAttribute(n: string): string | null; querySelector(s: string): El | null };
        const split = async () => page.evaluate(() => {
          const el = (globalThis as unknown as { document: El }).document.querySelector('[data-testid=split][data-service="todolist.default"]');
          return {
            weights: el?.querySelector('[data-testid=weights]')?.textContent ?? '',
            v2: Number(el?.querySelector('[data-version=v2]')?.getAttribute('data-share') ?? NaN),
          };
        });
        expect((await split()).weights).toMatch(/v1 90 · v2 10/);
        const t0 = Date.now();
        await driver.apply(todolistCanary(50, 50));
        let last = await split();
        const moved = await eventually(async () => {
          last = await split();
          return /v1 50 · v2 50/.test(last.weights) && last.v2 >= 25;
        }, 10_000 - (Date.now() - t0), 250);
        expect(moved, `10 s after applying 50/50 the page shows ${JSON.stringify(last)}`).toBe(true);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-50-50.png'), fullPage: true });
        // the workload page: its calls and its proxy's listeners, routes and clusters
        await page.goto(`${dash.url}/#/workload/default/caller-service`);
        await page.waitForSelector('[data-testid=clusters]', { timeout: 10_000 });
        expect(await page.textContent('[data-testid=clusters]')).toMatch(/outbound\|8091\|v\d\|callme-service\.default\.svc\.cluster\.local/);
        expect(await page.textContent('[data-testid=outbound]')).toMatch(/callme-service-v\d/);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-workload.png'), fullPage: true });
        expect(errors).toEqual([]);
      } finally {
        stopLoad = true;
        await load;
        await browser.close();
        await dash.stop();
        await driver.apply(todolistCanary(90, 10));
      }
    });

    it('a request through the gateway is one trace with spans from gateway, caller and callme (W3C, then B3 only), shown as a waterfall', async (ctx) => {
      const root = join(import.meta.dirname, '../..');
      const why = browserUnavailable(root);
      if (why) return ctx.skip(why);
      const otlp = driver.otlpReceiver ? driver.otlpReceiver() : `the ${driver.name} driver sends no traces here`;
      if (typeof otlp === 'string') return ctx.skip(otlp);
      const dash = await startDashboardProcess(root, { controlPlane: driver.controlPlane(), otlp });
      const browser = await launchBrowser();
      try {
        const hex = (n: number) => randomBytes(n).toString('hex');
        type Span = { spanId: string; parentSpanId?: string; service: string; kind: string };
        const traceOf = async (headers: Record<string, string>, traceId: string) => {
          const r = await fetch(`${driver.gatewayHttp()}/caller/ping`, { headers });
          expect(r.status).toBe(200);
          let spans: Span[] = [];
          // the proxies export in batches (every 5 s)
          await eventually(async () => {
            const res = await fetch(`${dash.url}/api/traces/${traceId}`);
            spans = res.ok ? ((await res.json()) as { spans: Span[] }).spans : [];
            return spans.some((s) => s.service === 'istio-ingressgateway.istio-system') && ['caller-service.default', 'callme-service.default'].every((svc) => spans.some((s) => s.service === svc && s.kind === 'SERVER'));
          }, 20_000, 500);
          return spans;
        };
        const chainFromCallme = (spans: Span[]) => {
          const byId = new Map(spans.map((s) => [s.spanId, s]));
          const out: string[] = [];
          for (let s = spans.find((x) => x.service === 'callme-service.default' && x.kind === 'SERVER'); s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) out.push(`${s.service} ${s.kind}`);
          return out;
        };
        // one span per proxy and side: the gateway's outbound (CLIENT), caller's sidecar inbound and outbound, callme's sidecar inbound
        const chain = ['callme-service.default SERVER', 'caller-service.default CLIENT', 'caller-service.default SERVER', 'istio-ingressgateway.istio-system CLIENT'];
        const w3c = hex(16);
        const parent = hex(8);
        const a = await traceOf({ traceparent: `00-${w3c}-${parent}-01` }, w3c);
        expect(chainFromCallme(a), JSON.stringify(a)).toEqual(chain);
        expect(a.find((s) => s.service === 'istio-ingressgateway.istio-system')!.parentSpanId).toBe(parent);
        const b3 = hex(16);
        const b = await traceOf({ 'x-b3-traceid': b3, 'x-b3-spanid': hex(8), 'x-b3-sampled': '1' }, b3);
        expect(chainFromCallme(b), JSON.stringify(b)).toEqual(chain);
        const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
        await page.goto(`${dash.url}/#/traces`);
        await page.waitForSelector(`a[href="#/trace/${w3c}"]`, { timeout: 10_000 });
        await page.click(`a[href="#/trace/${w3c}"]`);
        await page.waitForSelector('[data-testid=waterfall] [data-testid=span]', { timeout: 10_000 });
        const services = await page.$$eval('[data-testid=span]', (rows) => rows.map((r) => r.getAttribute('data-service')));
        expect(services).toEqual(['istio-ingressgateway.istio-system', 'caller-service.default', 'caller-service.default', 'callme-service.default']);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-trace.png'), fullPage: true });
      } finally {
        await browser.close();
        await dash.stop();
      }
    });
  });

  operatorScenarios(driver);
});
