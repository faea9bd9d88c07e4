/**
 * Helpers of the controllers' watches: the spec watch (the part of a controller's informer that
 * ignores its own status writes) and the few status reads the wiring routes events by.
 */
import { keyOf, type KubeObject } from './kube';
import type { ObjectStore, WatchEvent } from './store';

/** When the pod's Ready condition last turned True (ms), if it is True. */
export function readySince(p: KubeObject): number | undefined {
  const c = (p.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } | undefined)?.conditions?.find((x) => x.type === 'Ready');
  return c?.status === 'True' && c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : undefined;
}

/** `status.phase`. */
export const phaseOf = (o: KubeObject): string | undefined => (o.status as { phase?: string } | undefined)?.phase;

/**
 * Calls `onSpec` for an object that is new or whose spec changed (`metadata.generation` moved) and
 * `onDelete` when it goes: the part of a controller's watch that ignores its own status writes.
 */
export function specWatch(store: ObjectStore, kind: string, onSpec: (o: KubeObject) => Promise<unknown>, onDelete: (key: string, o: KubeObject) => Promise<unknown>): () => void {
  const seen = new Map<string, unknown>();
  return store.watch(kind, (e: WatchEvent) => {
    const key = keyOf(e.object);
    if (e.type === 'DELETED') {
      seen.delete(key);
      return onDelete(key, e.object);
    }
    if (seen.get(key) === e.object.metadata.generation) return;
    seen.set(key, e.object.metadata.generation);
    return onSpec(e.object);
  });
}
