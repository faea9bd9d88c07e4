/**
 * Istio's application probe forwarding on the status port (15020): the injector rewrites the
 * app's HTTP and TCP probes to `/app-health/<container>/<readyz|livez|startupz>` and passes what
 * they should check in `ISTIO_KUBE_APP_PROBERS`; the proxy runs each check against the app on
 * localhost (its own traffic is not captured), so probes keep working under STRICT mTLS.
 */
import http from 'node:http';
import net from 'node:net';

/** One probe target, in the shape of `ISTIO_KUBE_APP_PROBERS` values. */
export interface AppProber {
  httpGet?: { path?: string; port: number; scheme?: string; host?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number; host?: string };
  timeoutSeconds?: number;
}

/** `ISTIO_KUBE_APP_PROBERS` could not be used. */
export class AppProbersError extends Error {
  readonly code = 'PROXY_APP_PROBERS';
}

/** Parses `ISTIO_KUBE_APP_PROBERS`; throws naming the entry and what is wrong. */
export function parseAppProbers(json: string | undefined): Map<string, AppProber> {
  const out = new Map<string, AppProber>();
  if (!json) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new AppProbersError(`ISTIO_KUBE_APP_PROBERS is not JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new AppProbersError('ISTIO_KUBE_APP_PROBERS must be an object of path → prober');
  for (const [path, p] of Object.entries(raw as Record<string, AppProber>)) {
    if (!path.startsWith('/app-health/')) throw new AppProbersError(`ISTIO_KUBE_APP_PROBERS: path "${path}" does not start with /app-health/`);
    const port = p?.httpGet?.port ?? p?.tcpSocket?.port;
    if (!Number.isInteger(port) || (port as number) <= 0 || (port as number) > 65535) throw new AppProbersError(`ISTIO_KUBE_APP_PROBERS["${path}"]: needs httpGet or tcpSocket with a port`);
    if (p.httpGet?.scheme && p.httpGet.scheme.toUpperCase() !== 'HTTP') throw new AppProbersError(`ISTIO_KUBE_APP_PROBERS["${path}"]: scheme ${p.httpGet.scheme} is not supported (HTTP)`);
    out.set(path, p);
  }
  return out;
}

function probeHttp(p: NonNullable<AppProber['httpGet']>, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = {};
    for (const h of p.httpHeaders ?? []) headers[h.name] = h.value;
    const req = http.get({ host: p.host || '127.0.0.1', port: p.port, path: p.path || '/', headers, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 500);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(503));
  });
}

function probeTcp(p: NonNullable<AppProber['tcpSocket']>, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ host: p.host || '127.0.0.1', port: p.port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(200);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(503);
    });
    s.once('error', () => resolve(503));
  });
}

/** Answers `/app-health/...` with the app's own answer (2xx/3xx healthy); false when `path` is not a probe path. */
export function handleAppHealth(probers: ReadonlyMap<string, AppProber>, path: string, res: http.ServerResponse): boolean {
  if (!path.startsWith('/app-health/')) return false;
  const p = probers.get(path);
  if (!p) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no app prober for ${path}\n`);
    return true;
  }
  const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
  const check = p.httpGet ? probeHttp(p.httpGet, timeoutMs) : probeTcp(p.tcpSocket!, timeoutMs);
  void check.then((status) => {
    res.writeHead(status, { 'content-type': 'text/plain' }).end();
  });
  return true;
}
