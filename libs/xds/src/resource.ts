/** xDS resources as the cache holds them: typed message plus its `Any` encoding, made once. */
import { createHash } from 'node:crypto';
import { pack, type PackedAny } from './proto/codec';
import { ResourceEncodingError } from './errors';
import { TypeUrl, type ResourceTypeUrl } from './type-urls';
import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration, Secret, VirtualHost } from './types';

/** Message type per resource type URL. */
export interface ResourceMessages {
  [TypeUrl.Listener]: Listener;
  [TypeUrl.RouteConfiguration]: RouteConfiguration;
  [TypeUrl.VirtualHost]: VirtualHost;
  [TypeUrl.Cluster]: Cluster;
  [TypeUrl.ClusterLoadAssignment]: ClusterLoadAssignment;
  [TypeUrl.Secret]: Secret;
}

/** One encoded resource: name, type, the packed `Any`, and a content hash used as its Delta xDS version. */
export interface EncodedResource {
  readonly typeUrl: ResourceTypeUrl;
  readonly name: string;
  readonly any: PackedAny;
  /** Hex SHA-256 prefix of the encoded bytes: the per-resource version in Delta xDS. */
  readonly version: string;
  readonly message: ResourceMessages[ResourceTypeUrl];
}

/** The name of a resource: `name` for most types, `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(typeUrl: ResourceTypeUrl, message: { name?: string; cluster_name?: string }): string {
  const name = typeUrl === TypeUrl.ClusterLoadAssignment ? message.cluster_name : message.name;
  if (!name) throw new ResourceEncodingError(typeUrl, '', typeUrl === TypeUrl.ClusterLoadAssignment ? 'cluster_name is empty' : 'name is empty');
  return name;
}

/**
 * Encodes a resource once; errors name the resource and the field. `name` overrides the
 * resource name (a VHDS virtual host is named `<route configuration>/<host>`, not by its `name`).
 */
export function encodeResource<T extends ResourceTypeUrl>(typeUrl: T, message: ResourceMessages[T], name = resourceName(typeUrl, message as { name?: string; cluster_name?: string })): EncodedResource {
  let any: PackedAny;
  try {
    any = pack(typeUrl, message as object);
  } catch (err) {
    throw new ResourceEncodingError(typeUrl, name, (err as Error).message, { cause: err });
  }
  const version = createHash('sha256').update(any.value).digest('hex').slice(0, 16);
  return Object.freeze({ typeUrl, name, any, version, message });
}

/**
 * A resource from bytes already encoded (a cached fragment): no re-encoding, the version is the
 * hash of the bytes. `message` carries only the name (consumers read the encoded form).
 */
export function encodedResource<T extends ResourceTypeUrl>(typeUrl: T, name: string, value: Uint8Array): EncodedResource {
  const version = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return Object.freeze({ typeUrl, name, any: { type_url: typeUrl, value }, version, message: { name } as ResourceMessages[T] });
}
