/**
 * Envoy's TLS inspector (`envoy.filters.listener.tls_inspector`): reads the first bytes of a
 * connection without consuming them and tells TLS from plaintext (first byte 0x16, a handshake
 * record), and for TLS the SNI and the ALPN protocols the client offers — what filter chains
 * match on (`transport_protocol`, `server_names`, `application_protocols`). Bytes are put back
 * with `unshift`, so whatever handles the connection next (TLS termination, a TCP proxy passing
 * TLS through, an HTTP codec) sees them all.
 */
import type net from 'node:net';

/** What the first bytes of a connection say. */
export interface ClientHelloFacts {
  /** 'tls' or 'raw_buffer'. */
  transport: 'tls' | 'raw_buffer';
  /** SNI ('' when none or not TLS). */
  sni: string;
  /** ALPN protocols offered, in the client's order. */
  alpn: string[];
}

const NOT_TLS: ClientHelloFacts = { transport: 'raw_buffer', sni: '', alpn: [] };
/** Largest ClientHello accepted while inspecting (Envoy's default is 64 KiB). */
const MAX_HELLO = 64 * 1024;

/**
 * Parses a ClientHello from the start of `buf`: the facts, 'more' when more bytes are needed,
 * or plaintext facts when the bytes are not a TLS handshake.
 */
export function parseClientHello(buf: Buffer): ClientHelloFacts | 'more' {
  if (buf.length === 0) return 'more';
  if (buf[0] !== 0x16) return NOT_TLS;
  if (buf.length >= 2 && buf[1] !== 0x03) return NOT_TLS;
  // Gather handshake bytes from consecutive handshake records.
  const parts: Buffer[] = [];
  let off = 0;
  let have = 0;
  let need = -1;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16) return NOT_TLS;
    const len = buf.readUInt16BE(off + 3);
    const end = off + 5 + len;
    parts.push(buf.subarray(off + 5, Math.min(end, buf.length)));
    have += Math.min(end, buf.length) - (off + 5);
    if (need < 0 && have >= 4) {
      const hs = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (hs[0] !== 0x01) return { transport: 'tls', sni: '', alpn: [] };
      need = 4 + hs.readUIntBE(1, 3);
      if (need > MAX_HELLO) return { transport: 'tls', sni: '', alpn: [] };
    }
    if (need >= 0 && have >= need) return extensions(Buffer.concat(parts).subarray(4, need));
    if (end > buf.length) break;
    off = end;
  }
  return buf.length > MAX_HELLO ? { transport: 'tls', sni: '', alpn: [] } : 'more';
}

function extensions(body: Buffer): ClientHelloFacts {
  const out: ClientHelloFacts = { transport: 'tls', sni: '', alpn: [] };
  let p = 2 + 32; // client_version, random
  if (p >= body.length) return out;
  p += 1 + body[p]; // session id
  if (p + 2 > body.length) return out;
  p += 2 + body.readUInt16BE(p); // cipher suites
  if (p >= body.length) return out;
  p += 1 + body[p]; // compression methods
  if (p + 2 > body.length) return out;
  const end = Math.min(body.length, p + 2 + body.readUInt16BE(p));
  p += 2;
  while (p + 4 <= end) {
    const type = body.readUInt16BE(p);
    const len = body.readUInt16BE(p + 2);
    const data = body.subarray(p + 4, Math.min(end, p + 4 + len));
    if (type === 0x0000) out.sni = serverName(data);
    else if (type === 0x0010) out.alpn = alpnList(data);
    p += 4 + len;
  }
  return out;
}

function serverName(d: Buffer): string {
  let p = 2;
  while (p + 3 <= d.length) {
    const kind = d[p];
    const len = d.readUInt16BE(p + 1);
    if (kind === 0) return d.subarray(p + 3, p + 3 + len).toString('latin1').toLowerCase();
    p += 3 + len;
  }
  return '';
}

function alpnList(d: Buffer): string[] {
  const out: string[] = [];
  let p = 2;
  while (p < d.length) {
    const len = d[p];
    out.push(d.subarray(p + 1, p + 1 + len).toString('latin1'));
    p += 1 + len;
  }
  return out;
}

/**
 * Reads from `socket` until the ClientHello is complete (or the bytes are not TLS, or the
 * connection ends, or `timeoutMs` passes), puts every byte back, and reports the facts and the
 * bytes read. A connection that sends nothing before the timeout is plaintext (server-first
 * protocols), as with Envoy's inspector timeout.
 */
export function inspectClientHello(socket: net.Socket, timeoutMs = 5000): Promise<{ facts: ClientHelloFacts; first: Buffer | null }> {
  return new Promise((resolve) => {
    let buf: Buffer | null = null;
    let done = false;
    const finish = (facts: ClientHelloFacts) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      if (buf) socket.unshift(buf);
      resolve({ facts, first: buf });
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      if (!buf) return;
      const r = parseClientHello(buf);
      if (r !== 'more') finish(r);
    };
    const onEnd = () => finish(buf && buf[0] === 0x16 ? { transport: 'tls', sni: '', alpn: [] } : NOT_TLS);
    const timer = setTimeout(onEnd, timeoutMs);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    onReadable();
  });
}
