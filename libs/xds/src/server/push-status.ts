/**
 * The `/debug/push_status` contract: one record per push, as the control plane keeps it and as
 * `tsmesh proxy-status --pushes`, `tsmesh proxy-status <pod>` and `tsmesh wait` read it. Declared
 * once here so the server and its readers cannot drift apart.
 */

/** Time of the steps that run once per push. */
export interface PushSteps {
  validateMs: number;
  pushContextMs: number;
  invalidateMs: number;
  /** Cache entries evicted by the change (`all` when it could not be narrowed). */
  evicted: number | 'all';
}

/** What one type of one push carried to one proxy. */
export interface PushSent {
  version: string;
  resources: number;
  /** Names removed (Delta xDS). */
  removed: number;
  /** Bytes of the resources (their encoded `Any` values). */
  bytes: number;
  /** From the response being due to its write completing (ms). */
  sendMs: number;
  /** When the write completed (ISO time). */
  at: string;
}

/** One proxy a push reached. */
export interface PushTarget {
  proxy: string;
  /** Why this proxy was chosen: the changed config its config is built from. */
  why: string;
  /** Types whose content changed for it. */
  types: string[];
  /** Pushes merged into this one while the proxy waited in the queue. */
  merged?: number[];
  /** Per type: resources, bytes, version and the time from due to written. */
  sent: Record<string, PushSent>;
  /** Types the proxy ACKed, with the time since the first change (ms). */
  acked: Record<string, number>;
}

/** Per-push step times: the once-per-push steps, the per-proxy sums and the times to the last write and ACK. */
export interface PushRecordSteps extends PushSteps {
  /** From the first change to the push starting. */
  debounceMs: number;
  /** Generation summed over proxies. */
  generateMs: number;
  /** Snapshot building and consistency checks summed over proxies. */
  snapshotMs: number;
  /** From the push starting to the last response of it written. */
  sendMs?: number;
  /** From the first change to the last ACK of it. */
  convergedMs?: number;
}

/** One push. */
export interface PushRecord {
  push: number;
  version: string;
  at: string;
  trigger: string[];
  /** Config events merged by the debouncer into this push. */
  events: number;
  /** Connected proxies when it started. */
  proxies: number;
  /** Proxies whose snapshot changed. */
  pushed: number;
  /** Proxies generated whose config did not change (not pushed). */
  unchanged: number;
  failed: { proxy: string; error: string }[];
  /** From the push starting to the last queued proxy generated (ms). */
  durationMs: number;
  steps: PushRecordSteps;
  /** Bytes written for this push, over every proxy. */
  bytes: number;
  targets: PushTarget[];
}
