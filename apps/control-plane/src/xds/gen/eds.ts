/** EDS generation: one encoded ClusterLoadAssignment per outbound EDS cluster, cached by {@link EndpointsKey}. */
import { TypeUrl, type EncodedResource } from '@tsmesh/xds';
import type { Config } from '../../model/push-context';
import type { Proxy } from '../../model/proxy';
import { loadAssignment } from '../endpoints';
import type { PushGeneration } from './context';
import { EndpointsKey } from './keys';

/** The encoded load assignment of cluster `name` of service `hostname` (subset labels from `destinationRule`). */
export function encodedLoadAssignment(g: PushGeneration, proxy: Proxy, name: string, hostname: string, destinationRule: Config<unknown> | undefined): EncodedResource {
  return g.cache.resource(TypeUrl.ClusterLoadAssignment, new EndpointsKey(name, hostname, destinationRule), () => loadAssignment(g.push, proxy, name));
}
