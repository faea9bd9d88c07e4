/** Local replies (Envoy's: no route, no healthy upstream, timeouts, overflow), gRPC-aware. */
import type { Exchange } from './exchange';

/** gRPC status for an HTTP status of a local reply (Envoy's mapping). */
export function grpcStatusFor(http: number): number {
  switch (http) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}

/** Sends a local reply, unless a response already started (then the stream is reset). */
export function localReply(ex: Exchange, status: number, body: string, extra: Record<string, string> | null, grpcStatus = -1): void {
  const res = ex.res;
  if (ex.headersSent || res.headersSent) {
    ex.finish(status);
    res.destroy();
    return;
  }
  const headers: Record<string, string | string[] | undefined> = extra ? { ...extra } : {};
  if (ex.isGrpc) {
    headers['content-type'] = 'application/grpc';
    headers['grpc-status'] = String(grpcStatus >= 0 ? grpcStatus : grpcStatusFor(status));
    headers['grpc-message'] = encodeURIComponent(body);
    ex.grpcStatus = Number(headers['grpc-status']);
    ex.writeHead(200, headers, true);
    ex.finish(200);
    return;
  }
  const buf = Buffer.from(body);
  headers['content-type'] = 'text/plain';
  headers['content-length'] = String(buf.length);
  ex.writeHead(status, headers, false);
  ex.flushHead();
  ex.endWith(ex.method === 'HEAD' ? undefined : buf);
  ex.finish(status);
}
