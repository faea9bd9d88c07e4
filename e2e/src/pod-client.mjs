// An HTTP client run inside a pod's network namespace (as an app in the mesh would be).
// usage: node e2e/src/pod-client.mjs '<json>' with {host, port, paths: [..], n, concurrency, headers, timeoutMs}
// Paths are sent exactly as given (no normalisation). Prints a JSON array of
// {path, status, ms, body, error} on stdout.
import http from 'node:http';

const spec = JSON.parse(process.argv[2]);
const paths = spec.paths ?? ['/'];
const n = spec.n ?? paths.length;
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency ?? 1 });

function once(path) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: spec.host, port: spec.port, path, method: 'GET', headers: spec.headers ?? {}, agent, timeout: spec.timeoutMs ?? 15000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ path, status: res.statusCode, ms: performance.now() - t0, body: body.slice(0, 200) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ path, status: 0, ms: performance.now() - t0, body: '', error: e.message }));
    req.end();
  });
}

const out = [];
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    out[i] = await once(paths[i % paths.length]);
  }
}
await Promise.all(Array.from({ length: Math.min(spec.concurrency ?? 1, n) }, worker));
agent.destroy();
process.stdout.write(JSON.stringify(out));
