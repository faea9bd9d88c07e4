/** Config stores: adapters (watched YAML directory, Kubernetes informers) that feed one model. */
import type { ConfigIssue, ConfigResource } from '@tsmesh/mesh-config';

/** Listener of store changes: the keys (`Kind/ns/name`) that were added, changed or removed. */
export type ChangeListener = (changed: ReadonlySet<string>) => void;

/** A source of resources. */
export interface ConfigStore {
  /** For logs and status (`file:/etc/tsmesh/config`, `kubernetes`). */
  readonly name: string;
  /** Loads the initial state; resolves when the store has synced once. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Every resource the store holds now. */
  list(): ConfigResource[];
  /** Problems found while reading (syntax, envelopes); validation issues come later. */
  readIssues(): ConfigIssue[];
  /** Called after every change (also when only the read issues changed: `changed` is then empty). */
  onChange(listener: ChangeListener): () => void;
  /**
   * Writes the status of one of the store's resources (Gateway API kinds), or removes it
   * (`undefined`): the status subresource in Kubernetes, a status file beside the config file.
   */
  writeStatus?(resource: ConfigResource, status: Record<string, unknown> | undefined): Promise<void>;
}

/** Keys whose object differs between two lists of resources. */
export function changedKeys(before: readonly ConfigResource[], after: readonly ConfigResource[]): Set<string> {
  const a = new Map(before.map((r) => [r.key, r]));
  const b = new Map(after.map((r) => [r.key, r]));
  const out = new Set<string>();
  for (const [k, r] of a) {
    const o = b.get(k);
    // A file that was not re-read keeps its resource objects: only re-read ones are compared by content.
    if (!o || (o !== r && JSON.stringify(o.object) !== JSON.stringify(r.object))) out.add(k);
  }
  for (const k of b.keys()) if (!a.has(k)) out.add(k);
  return out;
}

/** Small helper for the listener set of a store. */
export class Listeners {
  private readonly set = new Set<ChangeListener>();
  add(l: ChangeListener): () => void {
    this.set.add(l);
    return () => this.set.delete(l);
  }
  emit(changed: ReadonlySet<string>): void {
    for (const l of this.set) l(changed);
  }
}
