/**
 * Socket reads into one buffer shared by the HTTP/1.1 codec's sockets (`net.Socket`'s `onread`):
 * no Buffer, ArrayBuffer or stream-layer work per read, and no per-connection read buffer. A read
 * is handed over before the next one is made, so whatever outlives the call is copied by its
 * reader.
 *
 * Upstream sockets (plaintext, and TLS to HTTP/1.1 pools) are opened with `onread`
 * ({@link SocketReads}). Downstream sockets are accepted by `net.Server`, which does not take
 * `onread`: the listener accepts them paused and {@link adoptAccepted} moves each connection's
 * handle to a socket reading this way before anything reads it. That uses two things Node does
 * not document — the socket's `_handle` and the `handle` option of `new net.Socket()` (what
 * `net.Server` itself builds accepted sockets with) — so the codec's tests run every server
 * case on such sockets and fail when adoption stops working. Until the HTTP/1.1 codec takes its
 * reads ({@link DownstreamReads.target}), every read is pushed as a copy into the socket's
 * stream, so protocol inspection, TLS termination, HTTP/2, the TCP proxy and tunnels read it as
 * any socket.
 */
import net from 'node:net';
import { copyOf } from './bytes';

const READ_BUFFER_BYTES = 64 * 1024;
let readBuffer: Buffer | null = null;

/** The one read buffer. */
export function sharedReadBuffer(): Buffer {
  readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
  return readBuffer;
}

/** What reads of a socket reading into the shared buffer are handed to. */
export interface ReadTarget {
  /** `b` is a view into the shared read buffer: valid only until this call returns. */
  onRead(b: Buffer): void;
}

/*
 * The view of the last read: reads of the same length (a connection's requests, or responses,
 * are mostly alike) get the same Buffer object instead of a new view each (a typed-array
 * allocation per read). It is a view of the one buffer, valid only during the read either way.
 */
let lastView: Buffer | null = null;
let lastViewOf: Uint8Array | null = null;
let lastViewLength = -1;

/** `buf[0, n)` as a Buffer: the last read's view when it is of the same buffer and length. */
function readView(buf: Uint8Array, n: number): Buffer {
  if (n === lastViewLength && buf === lastViewOf) return lastView!;
  lastView = (buf as Buffer).subarray(0, n);
  lastViewOf = buf;
  lastViewLength = n;
  return lastView;
}

/** The reads of one socket opened with `onread`: forwarded to the connection once it exists. */
export class SocketReads {
  target: ReadTarget | null = null;
  socket: net.Socket | null = null;
  readonly callback = this.onRead.bind(this);

  private onRead(n: number, buf: Uint8Array): boolean {
    const t = this.target;
    if (t === null) return this.untargeted(buf.subarray(0, n));
    t.onRead(readView(buf, n));
    return true;
  }

  /** A read before any connection takes them: bytes before any request, the server is not speaking HTTP/1.1 to us. */
  protected untargeted(_b: Uint8Array): boolean {
    this.socket?.destroy();
    return false;
  }
}

/** The reads of one accepted socket: to {@link target} when set, else copied into the socket's stream. */
export class DownstreamReads extends SocketReads {
  /** A stream reader's (inspection, TLS, HTTP/2, TCP proxy, tunnel): backpressure is the stream's. */
  protected override untargeted(b: Uint8Array): boolean {
    return this.socket!.push(copyOf(b));
  }
}

const readsOf = new WeakMap<net.Socket, DownstreamReads>();

/** The shared-buffer reads of a socket from {@link adoptAccepted}, or undefined for any other socket. */
export function downstreamReads(s: net.Socket): DownstreamReads | undefined {
  return readsOf.get(s);
}

interface WithHandle {
  _handle: unknown;
}

/**
 * The connection of a socket a `net.Server` with `pauseOnConnect` accepted, as a socket reading
 * into the shared buffer. The accepted socket gives up its handle (so is never read and closes
 * nothing) and is destroyed, which also takes it off the server's connection count.
 */
export function adoptAccepted(accepted: net.Socket, allowHalfOpen: boolean): net.Socket {
  const handle = (accepted as unknown as WithHandle)._handle;
  if (handle === null || handle === undefined || accepted.destroyed) return accepted;
  (accepted as unknown as WithHandle)._handle = null;
  const reads = new DownstreamReads();
  const s = new net.Socket({ handle, allowHalfOpen, readable: true, writable: true, onread: { buffer: sharedReadBuffer(), callback: reads.callback } } as unknown as net.SocketConstructorOpts);
  reads.socket = s;
  readsOf.set(s, reads);
  accepted.destroy();
  return s;
}
