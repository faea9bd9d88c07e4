/** Scenario helpers that act from inside the mesh (a pod) or from outside it (this host). */
import { connect, type PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import type { MeshDriver } from './drivers/types';

/** One response seen by a client in a pod. */
export interface PodSample {
  path: string;
  status: number;
  ms: number;
  body: string;
  error?: string;
}

const CLIENT = join('e2e', 'src', 'pod-client.mjs');

/** Sends GETs from inside the first pod matching `labels` (so its sidecar captures them). */
export async function fromPod(
  d: MeshDriver,
  namespace: string,
  labels: Record<string, string>,
  spec: { host: string; port: number; paths?: string[]; n?: number; concurrency?: number; headers?: Record<string, string>; timeoutMs?: number },
  opts: { uid?: number } = {},
): Promise<PodSample[]> {
  const r = await d.exec(namespace, labels, ['node', CLIENT, JSON.stringify(spec)], opts);
  if (r.code !== 0) throw new Error(`pod client failed (${r.code}): ${r.stderr.slice(0, 500)}`);
  return JSON.parse(r.stdout) as PodSample[];
}

/** Result of a TLS handshake from this host. */
export interface HandshakeResult {
  ok: boolean;
  error?: string;
  cert?: PeerCertificate;
  alpn?: string | false | null;
  response?: string;
}

/** Opens TLS to host:port, optionally sends one HTTP/1.1 request, and reports what happened. */
export function tlsProbe(o: {
  host: string;
  port: number;
  servername?: string;
  ca?: string;
  cert?: string;
  key?: string;
  alpn?: string[];
  request?: string;
  rejectUnauthorized?: boolean;
}): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const socket = connect({
      host: o.host,
      port: o.port,
      servername: o.servername,
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      ALPNProtocols: o.alpn,
      rejectUnauthorized: o.rejectUnauthorized ?? true,
      timeout: 10_000,
    });
    let response = '';
    let settled = false;
    const done = (r: HandshakeResult) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(r);
    };
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      if (!o.request) return done({ ok: true, cert, alpn: socket.alpnProtocol });
      socket.write(o.request);
      socket.on('data', (d: Buffer) => {
        response += d.toString('latin1');
        if (/\r\n\r\n/.test(response) && /^HTTP\/1\.1 \d{3}/.test(response)) {
          setTimeout(() => done({ ok: true, cert, alpn: socket.alpnProtocol, response }), 50);
        }
      });
      socket.once('end', () => done({ ok: true, cert, alpn: socket.alpnProtocol, response }));
    });
    socket.once('timeout', () => done({ ok: false, error: 'timeout' }));
    socket.once('error', (e) => done({ ok: false, error: e.message }));
    socket.once('close', () => done({ ok: response.length > 0, response, error: response ? undefined : 'closed before a response' }));
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
