/**
 * A plain JavaScript duplex over a server-side TLS socket. Node's HTTP/2 sessions consume a
 * native stream handle directly, which does not deliver the data of a TLSSocket made around an
 * already accepted socket; handing them this duplex makes the session read through JavaScript
 * instead. The connection facts (peer identity, original destination) are carried over.
 */
import { Duplex } from 'node:stream';
import type tls from 'node:tls';

/** Wraps `s`; `props` are copied onto the duplex (symbol-keyed connection facts). */
export function jsDuplex(s: tls.TLSSocket, props: Record<string | symbol, unknown>): Duplex {
  const d = new Duplex({
    read() {
      s.resume();
    },
    write(chunk: Buffer, enc: BufferEncoding, cb: (err?: Error | null) => void) {
      s.write(chunk, enc, cb);
    },
    final(cb: () => void) {
      s.end();
      cb();
    },
    destroy(err: Error | null, cb: (err: Error | null) => void) {
      s.destroy(err ?? undefined);
      cb(err);
    },
  });
  s.on('data', (c: Buffer) => {
    if (!d.push(c)) s.pause();
  });
  s.on('end', () => d.push(null));
  s.on('close', () => d.destroy());
  s.on('error', (err) => d.destroy(err));
  const target = d as unknown as Record<string | symbol, unknown>;
  for (const k of Reflect.ownKeys(props)) target[k] = props[k];
  target.encrypted = true;
  target.alpnProtocol = s.alpnProtocol;
  target.remoteAddress = s.remoteAddress;
  target.remotePort = s.remotePort;
  target.localAddress = s.localAddress;
  target.localPort = s.localPort;
  target.setNoDelay = () => d;
  target.setKeepAlive = () => d;
  target.setTimeout = (ms: number, cb?: () => void) => {
    s.setTimeout(ms, cb);
    return d;
  };
  return d;
}
