/**
 * Gateway API status as it is written back: the `status` object of each resource in the API's own
 * shape (conditions with `lastTransitionTime` and `observedGeneration`, Gateway `addresses` and
 * `listeners[]` with `supportedKinds` and `attachedRoutes`, route `parents[]`), and the status
 * file the file store keeps next to a config file (`<file>.status.yaml`: one document per
 * resource, `apiVersion`, `kind`, `metadata.name`/`namespace` and `status`), which
 * `tsmesh analyze` reads.
 */
import { parseAllDocuments, stringify } from 'yaml';
import type { ConfigResource } from '../resource';
import { resourceKey } from '../resource';
import { apiKindOf, GATEWAY_API_GROUP, kindFor, KINDS, type Kind } from '../kinds';
import type { Condition, GatewayApiStatus } from '../analysis/gateway-api-status';
import type { GatewayListener, KubernetesGatewayObject } from '../types/gateway-api';
import { listenerRouteKinds } from './attach';

/** Suffix of a status file (`gateway.yaml` → `gateway.status.yaml`); the file store never reads it as config. */
export const STATUS_FILE_SUFFIX = '.status.yaml';

/** Whether `path` is a status file. */
export const isStatusFile = (path: string) => path.toLowerCase().endsWith(STATUS_FILE_SUFFIX);

/** The status file next to a config file. */
export function statusFileFor(file: string): string {
  return `${file.replace(/\.(ya?ml|json)$/i, '')}${STATUS_FILE_SUFFIX}`;
}

/** A Kubernetes status condition. */
export interface KubeCondition extends Condition { lastTransitionTime: string; observedGeneration?: number }

/** The `status` of one resource, as the API serves it. */
export type KubeStatus = Record<string, unknown>;

type Prev = { conditions?: KubeCondition[] } | undefined;

function conditions(now: string, generation: number | undefined, cs: readonly Condition[] | undefined, prev: Prev): KubeCondition[] {
  return (cs ?? []).map((c) => {
    const before = prev?.conditions?.find((p) => p.type === c.type);
    // lastTransitionTime moves only when the condition's status does.
    const at = before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now;
    return { type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime: at, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
  });
}

/**
 * The status to write for resource `r` from the computed `s` (`gatewayApiStatus`), keeping the
 * transition times of `previous` (the status written before) for unchanged conditions.
 */
export function kubernetesStatus(r: ConfigResource, s: NonNullable<ReturnType<GatewayApiStatus['get']>>, previous: KubeStatus | undefined, now = new Date().toISOString()): KubeStatus {
  const gen = (r.object as { metadata?: { generation?: number } }).metadata?.generation;
  const generation = typeof gen === 'number' ? gen : undefined;
  if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute' || r.kind === 'TLSRoute' || r.kind === 'TCPRoute') {
    const prevParents = (previous?.parents ?? []) as { parentRef: { name: string; namespace?: string; sectionName?: string; port?: number; kind?: string }; conditions?: KubeCondition[] }[];
    const same = (a: { name: string; namespace?: string; sectionName?: string; port?: number; kind?: string }, b: typeof a) => a.name === b.name && a.namespace === b.namespace && a.sectionName === b.sectionName && a.port === b.port && (a.kind ?? 'Gateway') === (b.kind ?? 'Gateway');
    return {
      parents: (s.parents ?? []).map((p) => ({
        parentRef: Object.fromEntries(Object.entries(p.parentRef).filter(([, v]) => v !== undefined)),
        controllerName: p.controllerName,
        conditions: conditions(now, generation, p.conditions, prevParents.find((x) => same(x.parentRef, p.parentRef))),
      })),
    };
  }
  if (r.kind === 'KubernetesGateway') {
    const prevListeners = (previous?.listeners ?? []) as { name: string; conditions?: KubeCondition[] }[];
    const specListeners = (r.object as KubernetesGatewayObject).spec?.listeners ?? [];
    return {
      addresses: s.addresses ?? [],
      conditions: conditions(now, generation, s.conditions, previous as Prev),
      listeners: (s.listeners ?? []).map((l) => {
        const accepted = l.conditions.find((c) => c.type === 'Accepted')?.status === 'True';
        return {
          name: l.name,
          // The route kinds the listener takes (its protocol's, narrowed by allowedRoutes.kinds).
          supportedKinds: accepted ? listenerKindsOf(specListeners.find((x) => x.name === l.name)) : [],
          attachedRoutes: l.attachedRoutes,
          conditions: conditions(now, generation, l.conditions, prevListeners.find((x) => x.name === l.name)),
        };
      }),
    };
  }
  return { conditions: conditions(now, generation, s.conditions, previous as Prev) };
}

function listenerKindsOf(l: GatewayListener | undefined): { group: string; kind: string }[] {
  return l ? listenerRouteKinds(l).map((kind) => ({ group: GATEWAY_API_GROUP, kind })) : [];
}

/** The status without transition times, to tell whether a write would change anything. */
export function statusFingerprint(status: KubeStatus): string {
  return JSON.stringify(status, (k, v) => (k === 'lastTransitionTime' ? undefined : v));
}

/** One entry of a status file. */
export interface WrittenStatus {
  key: string;
  kind: Kind;
  namespace: string;
  name: string;
  status: KubeStatus;
  /** The status file. */
  file: string;
}

/** A status file's text for these resources and statuses (sorted by key). */
export function renderStatusFile(entries: readonly { r: ConfigResource; status: KubeStatus }[]): string {
  const docs = [...entries].sort((a, b) => a.r.key.localeCompare(b.r.key)).map(({ r, status }) => stringify({
    apiVersion: r.apiVersion,
    kind: apiKindOf(r.kind),
    metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) },
    status,
  }, { lineWidth: 0 }));
  return `# Status written by the control plane (istio.io/gateway-controller); not read as config.\n${docs.join('---\n')}`;
}

/** The entries of a status file; documents that are not Gateway API objects with a status are skipped. */
export function parseStatusFile(text: string, file: string): WrittenStatus[] {
  const out: WrittenStatus[] = [];
  for (const d of parseAllDocuments(text)) {
    const o = d.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string }; status?: KubeStatus } | null;
    if (!o?.apiVersion || !o.kind || !o.metadata?.name || !o.status) continue;
    const group = o.apiVersion.includes('/') ? o.apiVersion.slice(0, o.apiVersion.indexOf('/')) : '';
    if (group !== GATEWAY_API_GROUP) continue;
    const kind = kindFor(group, o.kind) as Kind;
    if (!KINDS[kind]) continue;
    const namespace = KINDS[kind].namespaced ? o.metadata.namespace ?? 'default' : '';
    out.push({ key: resourceKey(kind, namespace, o.metadata.name), kind, namespace, name: o.metadata.name, status: o.status, file });
  }
  return out;
}
