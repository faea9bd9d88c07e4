/** Byte copies for the HTTP/1.1 codec (its reads are views into one shared buffer). */

/**
 * A copy of `b` in a new Buffer (from Node's pool when small). `Buffer.from(b)` does the same
 * but first reads `b.buffer`, a call into V8's runtime for a typed array: ~160 ns for 1 KiB
 * against ~90 ns.
 */
export function copyOf(b: Uint8Array): Buffer {
  const c = Buffer.allocUnsafe(b.length);
  c.set(b);
  return c;
}
