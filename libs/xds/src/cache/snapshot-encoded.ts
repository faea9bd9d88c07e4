/**
 * Snapshots from resources that are already encoded, so a control plane can encode a resource
 * shared by many proxies once per push and put the same `EncodedResource` in every snapshot.
 */
import { ALL_TYPE_URLS, type ResourceTypeUrl } from '../type-urls';
import { SnapshotInconsistentError } from '../errors';
import type { EncodedResource } from '../resource';
import { Snapshot, type SnapshotVersions } from './snapshot';

/** Encoded resources by type. */
export type EncodedResources = { [K in ResourceTypeUrl]?: readonly EncodedResource[] };

const built = new WeakMap<readonly EncodedResource[], { typeUrl: ResourceTypeUrl; map: Map<string, EncodedResource> }>();

type SnapshotCtor = new (byType: Map<ResourceTypeUrl, Map<string, EncodedResource>>, versions: Map<ResourceTypeUrl, string>) => Snapshot;

/**
 * Builds a {@link Snapshot} from encoded resources (no encoding happens here). Throws for a
 * resource filed under the wrong type or a duplicate name, like {@link Snapshot.create}. The
 * name index of a list is built once and shared by every snapshot given the same (unmodified)
 * array, so thousands of proxies sharing a list cost one index.
 */
export function snapshotFromEncoded(versions: SnapshotVersions, resources: EncodedResources): Snapshot {
  const byType = new Map<ResourceTypeUrl, Map<string, EncodedResource>>();
  const vers = new Map<ResourceTypeUrl, string>();
  for (const typeUrl of ALL_TYPE_URLS) {
    const list = resources[typeUrl] ?? [];
    const hit = built.get(list);
    if (hit && hit.typeUrl === typeUrl) {
      byType.set(typeUrl, hit.map);
    } else {
      const map = new Map<string, EncodedResource>();
      for (const r of list) {
        if (r.typeUrl !== typeUrl) throw new SnapshotInconsistentError([`resource "${r.name}" of type ${r.typeUrl} given as ${typeUrl}`]);
        if (map.has(r.name)) throw new SnapshotInconsistentError([`duplicate ${typeUrl} resource "${r.name}"`]);
        map.set(r.name, r);
      }
      if (list.length) built.set(list, { typeUrl, map });
      byType.set(typeUrl, map);
    }
    vers.set(typeUrl, typeof versions === 'string' ? versions : (versions[typeUrl] ?? ''));
  }
  // The constructor is private to keep snapshots immutable; this module is its one other caller.
  return new (Snapshot as unknown as SnapshotCtor)(byType, vers);
}
