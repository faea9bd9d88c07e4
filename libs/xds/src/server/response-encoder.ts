/**
 * Discovery responses written straight into one buffer: the resources are already encoded (each
 * `EncodedResource` carries its `Any` bytes), so a response is its envelope fields plus a copy of
 * each resource's bytes — one allocation, no per-field buffers, no re-encoding of what thousands
 * of streams share. Field numbers are those of `envoy.service.discovery.v3.DiscoveryResponse`
 * (1 version_info, 2 resources, 4 type_url, 5 nonce, 6 control_plane) and
 * `DeltaDiscoveryResponse` (1 system_version_info, 2 resources, 4 type_url, 5 nonce,
 * 6 removed_resources, 7 control_plane); `Resource` is 1 version, 2 resource, 3 name; `Any` is
 * 1 type_url, 2 value; `ControlPlane` is 1 identifier.
 */
import type { EncodedResource } from '../resource';

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
/** Size of a length-delimited field with a payload of `len` bytes. */
const fieldSize = (len: number): number => 1 + varintSize(len) + len;

class Out {
  i = 0;
  constructor(readonly b: Buffer) {}
  varint(n: number): void {
    while (n >= 0x80) {
      this.b[this.i++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.b[this.i++] = n;
  }
  head(no: number, len: number): void {
    this.b[this.i++] = (no << 3) | 2;
    this.varint(len);
  }
  str(no: number, s: string, len: number): void {
    this.head(no, len);
    this.i += this.b.write(s, this.i, 'utf8');
  }
  bytes(no: number, v: Uint8Array): void {
    this.head(no, v.length);
    this.b.set(v, this.i);
    this.i += v.length;
  }
}

const anySize = (r: EncodedResource, typeLen: number) => fieldSize(typeLen) + fieldSize(r.any.value.length);

function writeAny(o: Out, no: number, r: EncodedResource, typeLen: number): void {
  o.head(no, anySize(r, typeLen));
  o.str(1, r.any.type_url, typeLen);
  o.bytes(2, r.any.value);
}

const blen = (s: string) => Buffer.byteLength(s, 'utf8');

/** A State-of-the-World DiscoveryResponse. */
export function encodeSotwResponse(m: { version: string; typeUrl: string; nonce: string; identifier: string; resources: readonly EncodedResource[] }): Buffer {
  const vl = blen(m.version);
  const tl = blen(m.typeUrl);
  const nl = blen(m.nonce);
  const il = blen(m.identifier);
  let size = (vl ? fieldSize(vl) : 0) + fieldSize(tl) + (nl ? fieldSize(nl) : 0) + fieldSize(fieldSize(il));
  const anyTypeLens = m.resources.map((r) => blen(r.any.type_url));
  m.resources.forEach((r, k) => { size += fieldSize(anySize(r, anyTypeLens[k])); });
  const o = new Out(Buffer.allocUnsafe(size));
  if (vl) o.str(1, m.version, vl);
  m.resources.forEach((r, k) => writeAny(o, 2, r, anyTypeLens[k]));
  o.str(4, m.typeUrl, tl);
  if (nl) o.str(5, m.nonce, nl);
  o.head(6, fieldSize(il));
  o.str(1, m.identifier, il);
  if (o.i !== size) throw new Error(`DiscoveryResponse encoded to ${o.i} bytes, expected ${size}`);
  return o.b;
}

/** A Delta xDS DeltaDiscoveryResponse. */
export function encodeDeltaResponse(m: { systemVersion: string; typeUrl: string; nonce: string; identifier: string; resources: readonly EncodedResource[]; removed: readonly string[] }): Buffer {
  const vl = blen(m.systemVersion);
  const tl = blen(m.typeUrl);
  const nl = blen(m.nonce);
  const il = blen(m.identifier);
  let size = (vl ? fieldSize(vl) : 0) + fieldSize(tl) + (nl ? fieldSize(nl) : 0) + fieldSize(fieldSize(il));
  const lens = m.resources.map((r) => {
    const t = blen(r.any.type_url);
    const n = blen(r.name);
    const v = blen(r.version);
    const inner = (v ? fieldSize(v) : 0) + fieldSize(anySize(r, t)) + (n ? fieldSize(n) : 0);
    size += fieldSize(inner);
    return { t, n, v, inner };
  });
  const removedLens = m.removed.map((x) => blen(x));
  for (const l of removedLens) size += fieldSize(l);
  const o = new Out(Buffer.allocUnsafe(size));
  if (vl) o.str(1, m.systemVersion, vl);
  m.resources.forEach((r, k) => {
    const l = lens[k];
    o.head(2, l.inner);
    if (l.v) o.str(1, r.version, l.v);
    writeAny(o, 2, r, l.t);
    if (l.n) o.str(3, r.name, l.n);
  });
  o.str(4, m.typeUrl, tl);
  if (nl) o.str(5, m.nonce, nl);
  m.removed.forEach((x, k) => o.str(6, x, removedLens[k]));
  o.head(7, fieldSize(il));
  o.str(1, m.identifier, il);
  if (o.i !== size) throw new Error(`DeltaDiscoveryResponse encoded to ${o.i} bytes, expected ${size}`);
  return o.b;
}
