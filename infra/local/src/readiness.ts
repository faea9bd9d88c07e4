/** Waiting for pods to be Ready and reachable (what `kubectl wait --for=condition=Ready` and a rollout wait give a script). */
import type { PendingPod } from './api';
import { phaseOf } from './controller-watch';
import { podReady } from './endpointslice-controller';
import { keyOf, type KubeObject } from './kube';
import type { ObjectStore } from './store';

/** What the wait reads. */
export interface ReadinessView {
  store: ObjectStore;
  /** Pod creates still in admission. */
  pending(): Iterable<PendingPod>;
  /** Resolves once EndpointSlices, VIP rules and DNS reflect every change seen so far. */
  settled(): Promise<void>;
  /** Named in the timeout's message. */
  logDir: string;
}

/**
 * Waits until every pod (of `namespace`, whose labels include `selector`), and every pod still
 * being admitted, is Ready and reachable; throws naming the stragglers after `timeoutMs`.
 * Completed pods (Succeeded, Failed) and terminating ones are not waited for.
 */
export async function waitPodsReady(v: ReadinessView, opts: { timeoutMs?: number; namespace?: string; selector?: Record<string, string> } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  const selected = (p: KubeObject) =>
    (!opts.namespace || p.metadata.namespace === opts.namespace) && Object.entries(opts.selector ?? {}).every(([k, val]) => p.metadata.labels?.[k] === val);
  for (;;) {
    const pods = v.store.list('Pod').filter((p) => selected(p) && !p.metadata.deletionTimestamp && phaseOf(p) !== 'Succeeded' && phaseOf(p) !== 'Failed');
    const notReady = pods.filter((p) => !podReady(p)).map((p) => keyOf(p));
    const pendingOwners = opts.selector ? [] : [...v.pending()].filter((s) => !s.cancelled && (!opts.namespace || s.owner.includes(`/${opts.namespace}/`))).map((s) => `${s.owner} (admitting)`);
    if (notReady.length === 0 && pendingOwners.length === 0) {
      // Ready means reachable: wait until the EndpointSlices and VIP rules reflect it.
      await v.settled();
      return;
    }
    if (Date.now() > deadline) throw new Error(`pods not ready after ${timeoutMs} ms: ${[...notReady, ...pendingOwners].join(', ')} (logs in ${v.logDir})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
