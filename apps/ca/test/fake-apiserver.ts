/**
 * A fake Kubernetes API server for tests (no real one runs here): HTTPS on loopback, answering
 * TokenReview from payloads in the API server's own response format (testdata/), and keeping
 * Secrets and ConfigMaps in memory with create/read/replace semantics (404, 409, resourceVersion).
 */
import https from 'node:https';
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createRootCa, createWorkloadCert } from '@tsmesh/certs';

const testdata = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');

/** One request the fake received. */
export interface SeenRequest {
  method: string;
  path: string;
  body: unknown;
  authorization?: string;
  /** True for a watch request (`?watch=true`). */
  watch: boolean;
}

/** The running fake. */
export interface FakeApiServer {
  kubeConfig: KubeConfig;
  requests: SeenRequest[];
  /** Adds a namespace to the list and sends an ADDED event to every namespace watch. */
  addNamespace(name: string): void;
  /** Stored objects by `<kind>/<namespace>/<name>`. */
  objects: Map<string, { metadata: { resourceVersion?: string; [k: string]: unknown }; data?: Record<string, string>; [k: string]: unknown }>;
  close(): Promise<void>;
}

/** Starts the fake; `reviews` maps a bearer token to a testdata TokenReview file. */
export async function startFakeApiServer(reviews: Record<string, string>): Promise<FakeApiServer> {
  const root = await createRootCa({ subject: 'CN=fake-apiserver-ca' });
  const serving = await createWorkloadCert(root, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const requests: SeenRequest[] = [];
  const objects: FakeApiServer['objects'] = new Map();
  let version = 2000;
  const namespaces = JSON.parse(testdata('namespace-list.json')) as { metadata: { resourceVersion: string }; items: object[] };
  const watchers = new Set<ServerResponse>();

  const notFound = (kind: string, name: string) => testdata('status-not-found.json').replaceAll('NAME', name).replaceAll('KIND', kind);
  const send = (res: ServerResponse, code: number, body: string | object) =>
    res.writeHead(code, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));

  const server = https.createServer({ key: serving.keyPem, cert: serving.chainPem }, (req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = raw ? JSON.parse(raw) : undefined;
      const [path, query = ''] = (req.url ?? '').split('?');
      requests.push({ method: req.method ?? '', path, body, authorization: req.headers.authorization, watch: new URLSearchParams(query).get('watch') === 'true' });
      if (req.method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
        const file = reviews[(body as { spec: { token: string } }).spec.token];
        const review = JSON.parse(testdata(file ?? 'tokenreview-unauthenticated.json'));
        review.spec = (body as { spec: unknown }).spec;
        return send(res, 201, review);
      }
      if (req.method === 'GET' && path === '/api/v1/namespaces' && new URLSearchParams(query).get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        watchers.add(res);
        res.on('close', () => watchers.delete(res));
        return;
      }
      if (req.method === 'GET' && path === '/api/v1/namespaces') return send(res, 200, namespaces);
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps)(?:\/([^/]+))?$/.exec(path);
      if (!m) return send(res, 404, notFound('path', path));
      const [, ns, kind, name] = m;
      if (req.method === 'POST' && !name) {
        const obj = body as { metadata: { name: string; resourceVersion?: string } };
        const key = `${kind}/${ns}/${obj.metadata.name}`;
        if (objects.has(key)) return send(res, 409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409, message: `${kind} "${obj.metadata.name}" already exists` });
        obj.metadata.resourceVersion = String(++version);
        objects.set(key, obj as never);
        return send(res, 201, obj);
      }
      const key = `${kind}/${ns}/${name}`;
      const cur = objects.get(key);
      if (req.method === 'GET') return cur ? send(res, 200, cur) : send(res, 404, notFound(kind, name));
      if (req.method === 'PUT') {
        if (!cur) return send(res, 404, notFound(kind, name));
        const obj = body as { metadata: { resourceVersion?: string } };
        if (obj.metadata.resourceVersion !== cur.metadata.resourceVersion) return send(res, 409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409 });
        obj.metadata.resourceVersion = String(++version);
        objects.set(key, obj as never);
        return send(res, 200, obj);
      }
      return send(res, 405, { kind: 'Status', code: 405 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `https://127.0.0.1:${port}`, caData: Buffer.from(root.rootPem).toString('base64') }],
    users: [{ name: 'istio-ca', token: 'ca-service-account-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'istio-ca' }],
    currentContext: 'fake',
  });
  return {
    kubeConfig,
    requests,
    objects,
    addNamespace: (name) => {
      const ns = { metadata: { name, uid: `fake-${name}`, resourceVersion: String(++version), labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
      namespaces.items.push(ns);
      namespaces.metadata.resourceVersion = String(version);
      for (const w of watchers) w.write(JSON.stringify({ type: 'ADDED', object: { kind: 'Namespace', apiVersion: 'v1', ...ns } }) + '\n');
    },
    close: () => new Promise((r) => {
      for (const w of watchers) w.end();
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
