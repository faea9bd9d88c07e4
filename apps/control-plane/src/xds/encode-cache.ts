/**
 * Encoded resources reused across pushes: keyed by a content key (everything the resource is
 * made from), so a push re-encodes only what changed. Entries not used by the last push are
 * dropped at the next {@link EncodeCache.rotate}.
 */
import { createHash } from 'node:crypto';
import { encodeMessage, encodeResource, TYPE_PREFIX, type EncodedResource, type ResourceMessages, type ResourceTypeUrl } from '@tsmesh/xds';

/** A cache of encoded resources (and encoded message fragments) by content key. */
export class EncodeCache {
  private cur = new Map<string, unknown>();
  private prev = new Map<string, unknown>();
  hits = 0;
  misses = 0;

  /** Starts a new generation: what was not used since the last rotate is forgotten. */
  rotate(): void {
    this.prev = this.cur;
    this.cur = new Map();
  }

  private lookup<T>(key: string, make: () => T): T {
    let v = this.cur.get(key) as T | undefined;
    if (v === undefined) {
      v = this.prev.get(key) as T | undefined;
      if (v === undefined) {
        this.misses += 1;
        v = make();
      } else {
        this.hits += 1;
      }
      this.cur.set(key, v);
    } else {
      this.hits += 1;
    }
    return v;
  }

  /** The encoded resource for `key`, made with `make` when not cached. */
  resource<T extends ResourceTypeUrl>(typeUrl: T, key: string, make: () => ResourceMessages[T]): EncodedResource {
    return this.lookup(`${typeUrl}\0${key}`, () => encodeResource(typeUrl, make()));
  }

  /** Encoded bytes of a message (a fragment to concatenate), made when not cached. */
  bytes(messageType: string, key: string, make: () => object): Uint8Array {
    return this.lookup(`${messageType}\0${key}`, () => encodeMessage(TYPE_PREFIX + messageType, make()));
  }
}

/**
 * A resource from encoded fragments: protobuf merges concatenated messages and appends repeated
 * fields, so a RouteConfiguration can be built from its header and one fragment per virtual host.
 * `message` carries only the name (consumers of RDS messages read the encoded form).
 */
export function concatenated<T extends ResourceTypeUrl>(typeUrl: T, name: string, parts: readonly Uint8Array[]): EncodedResource {
  const value = Buffer.concat(parts);
  const version = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return Object.freeze({ typeUrl, name, any: { type_url: typeUrl, value }, version, message: { name } as ResourceMessages[T] });
}
