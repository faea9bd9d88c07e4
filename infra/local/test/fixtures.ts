/** Test images: tiny Node programs standing in for app images, run through the same image table mechanism. */
import type { ImageEntry } from '../src/images';

/** An HTTP server on $PORT answering `<name> <uid> <labels file?>`, /healthz (503 until $READY_AFTER_MS passed) and /prestop (logged); logs `start` and, on SIGTERM, `stop` with the time. */
export const HTTP_ECHO = `
const http = require('node:http');
const fs = require('node:fs');
const started = Date.now();
const readyAfter = Number(process.env.READY_AFTER_MS || 0);
http.createServer((req, res) => {
  if (req.url === '/healthz') { res.statusCode = Date.now() - started >= readyAfter && !fs.existsSync('/tmp/.never') ? 200 : 503; return res.end('ok'); }
  if (req.url === '/prestop') { console.log('prestop ' + Date.now() + ' ' + req.method + ' ' + req.headers['user-agent']); return res.end('ok'); }
  if (req.url === '/file') { try { return res.end(fs.readFileSync(process.env.FILE, 'utf8')); } catch (e) { res.statusCode = 404; return res.end(String(e)); } }
  if (req.url === '/resolve') { return require('node:dns').lookup(process.env.NAME, (err, a) => res.end(err ? 'ERR ' + err.code : a)); }
  res.end(JSON.stringify({ pod: process.env.POD_NAME, ns: process.env.POD_NAMESPACE, ip: process.env.POD_IP, uid: process.getuid(), msg: process.env.MSG }));
}).listen(Number(process.env.PORT || 8080), '0.0.0.0');
console.log('start ' + Date.now() + ' uid=' + process.getuid());
process.on('SIGTERM', () => { console.log('stop ' + Date.now()); process.exit(0); });
`;

/** Image table for tests. */
export const TEST_IMAGES: Record<string, ImageEntry> = {
  'test/echo': { entrypoint: ['node', '-e', HTTP_ECHO] },
  'test/done': { entrypoint: ['node', '-e', 'setTimeout(() => process.exit(0), 400)'] },
  'test/exit': { entrypoint: ['node', '-e', 'setTimeout(() => process.exit(3), 300)'] },
  'test/sleep': { entrypoint: ['node', '-e', 'setInterval(() => {}, 1000); process.on("SIGTERM", () => process.exit(0))'] },
};

/** A Deployment + Service of test/echo. */
export function echoApp(opts: { name: string; namespace?: string; replicas?: number; readyAfterMs?: number; port?: number }): string {
  const ns = opts.namespace ?? 'default';
  const port = opts.port ?? 8080;
  return `
apiVersion: v1
kind: ServiceAccount
metadata: { name: ${opts.name}, namespace: ${ns} }
---
apiVersion: v1
kind: Service
metadata: { name: ${opts.name}, namespace: ${ns} }
spec:
  selector: { app: ${opts.name} }
  ports:
    - { name: http, port: 80, targetPort: http }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${opts.name}, namespace: ${ns} }
spec:
  replicas: ${opts.replicas ?? 1}
  selector: { matchLabels: { app: ${opts.name} } }
  template:
    metadata:
      labels: { app: ${opts.name}, version: v1 }
    spec:
      serviceAccountName: ${opts.name}
      securityContext: { runAsUser: 1000 }
      containers:
        - name: echo
          image: test/echo:latest
          env:
            - { name: PORT, value: "${port}" }
            - { name: READY_AFTER_MS, value: "${opts.readyAfterMs ?? 0}" }
            - name: POD_NAME
              valueFrom: { fieldRef: { fieldPath: metadata.name } }
            - name: POD_NAMESPACE
              valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
            - name: POD_IP
              valueFrom: { fieldRef: { fieldPath: status.podIP } }
            - { name: MSG, value: "hello from $(POD_NAME)" }
            - { name: FILE, value: /etc/podinfo/labels }
          ports:
            - { name: http, containerPort: ${port} }
          readinessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 1
          volumeMounts:
            - { name: podinfo, mountPath: /etc/podinfo }
            - { name: token, mountPath: /var/run/secrets/tokens, readOnly: true }
      volumes:
        - name: podinfo
          downwardAPI:
            items:
              - path: labels
                fieldRef: { fieldPath: metadata.labels }
        - name: token
          projected:
            sources:
              - serviceAccountToken: { audience: istio-ca, expirationSeconds: 43200, path: istio-token }
`;
}

/** Stands in for tsmesh/proxy: `istio-iptables` records its UID and exits; `proxy sidecar` serves 15021 (ready after 500 ms) and 15020, and reports the pod files it sees. */
export const FAKE_PROXY = `
const fs = require('node:fs');
const http = require('node:http');
const args = process.argv.slice(1);
if (args[0] === 'istio-iptables') { console.log('iptables uid=' + process.getuid() + ' args=' + args.join(' ')); process.exit(0); }
const started = Date.now();
console.log('start ' + started + ' uid=' + process.getuid());
console.log('token=' + fs.existsSync('/var/run/secrets/tokens/istio-token'));
console.log('labels=' + JSON.stringify(fs.readFileSync('/etc/istio/pod/labels', 'utf8')));
console.log('env POD_NAME=' + process.env.POD_NAME + ' INSTANCE_IP=' + process.env.INSTANCE_IP + ' SERVICE_ACCOUNT=' + process.env.SERVICE_ACCOUNT);
http.createServer((req, res) => { res.statusCode = Date.now() - started > 500 ? 200 : 503; res.end(); }).listen(15021);
const probers = JSON.parse(process.env.ISTIO_KUBE_APP_PROBERS || '{}');
http.createServer((req, res) => {
  const p = probers[req.url];
  if (!p) return res.end('ok');
  const port = (p.httpGet || p.tcpSocket).port;
  http.get({ host: '127.0.0.1', port, path: (p.httpGet && p.httpGet.path) || '/' }, (r) => { r.resume(); res.statusCode = r.statusCode; res.end(); })
    .on('error', () => { res.statusCode = 503; res.end(); });
}).listen(15020);
process.on('SIGTERM', () => { console.log('stop ' + Date.now()); process.exit(0); });
`;
