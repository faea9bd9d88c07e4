/**
 * Events (`v1` Event objects in the store), as components record them on a cluster: the
 * involved object, `type` Normal / Warning, a `reason` (Scheduled, Started, Killing, BackOff,
 * ScalingReplicaSet, FailedCreate, …) and a message; a repeat of the same reason and message
 * for the same object bumps `count` and `lastTimestamp` instead of adding another.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from './kube';
import type { ObjectStore } from './store';

/** Records events into the store. */
export class EventRecorder {
  constructor(private readonly store: ObjectStore, private readonly component: string) {}

  /** Records `reason: message` about `involved`. */
  record(involved: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ns = involved.metadata.namespace ?? 'default';
    const id = createHash('sha256').update(`${involved.metadata.uid ?? ''}|${involved.kind}|${involved.metadata.name}|${reason}|${message}`).digest('hex').slice(0, 16);
    const name = `${involved.metadata.name}.${id}`;
    const now = new Date().toISOString();
    const prev = this.store.get('Event', `${ns}/${name}`);
    if (prev) {
      this.store.patch('Event', `${ns}/${name}`, (e) => {
        e.count = Number(e.count ?? 1) + 1;
        e.lastTimestamp = now;
      });
      return;
    }
    this.store.put({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: { apiVersion: involved.apiVersion, kind: involved.kind, namespace: ns, name: involved.metadata.name, uid: involved.metadata.uid },
      type,
      reason,
      message,
      source: { component: this.component },
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
    });
  }
}

/** The events about an object, oldest first. */
export function eventsFor(store: ObjectStore, o: KubeObject): KubeObject[] {
  return store
    .list('Event', o.metadata.namespace ?? 'default')
    .filter((e) => {
      const io = e.involvedObject as { kind?: string; name?: string; uid?: string };
      return io.kind === o.kind && io.name === o.metadata.name && (!io.uid || !o.metadata.uid || io.uid === o.metadata.uid);
    })
    .sort((a, b) => String(a.firstTimestamp).localeCompare(String(b.firstTimestamp)));
}
