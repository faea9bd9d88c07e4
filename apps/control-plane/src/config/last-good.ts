/**
 * Nothing is lost: validation over the stores' resources that keeps, for every resource whose
 * update is rejected, the last version that was accepted — whichever store it came from (file or
 * Kubernetes), since it works on the resources the stores list. The rejected version's issues say
 * so ("kept version from <time>") and name both versions. A deleted resource is forgotten.
 *
 * Fail closed for security: an AuthorizationPolicy rejected for what its rules say, with no
 * earlier version to keep, is still enforced — translated as Istio translates what it cannot
 * fully understand (a DENY denies more, an ALLOW allows less) — rather than silently dropped,
 * which would let through what it was written to stop.
 */
import { createHash } from 'node:crypto';
import { resourceLabel, type ConfigIssue, type ConfigResource, type KubeObject, type ValidationResult } from '@tsmesh/mesh-config';

/** An issue of a rejected update, with the version kept in its place. */
export interface KeptIssue extends ConfigIssue {
  /** The version that keeps serving, and when it was accepted. */
  kept?: { version: string; acceptedAt: string };
  /** The rejected version. */
  rejectedVersion?: string;
  /** How a rejected security policy with no earlier version is applied. */
  enforced?: 'fail-closed';
}

/** How a rejected resource is handled. */
export type Handling = 'kept_last_good' | 'fail_closed' | 'dropped';

/** The result of one validation pass with last-good versions kept. */
export interface LastGoodResult {
  /** Resources to serve: the accepted ones, the kept versions, and the fail-closed policies. */
  serve: ConfigResource[];
  issues: KeptIssue[];
  /** Keys of rejected resources, with how each is handled. */
  rejected: Map<string, Handling>;
}

interface Good {
  resource: ConfigResource;
  text: string;
  acceptedAt: Date;
}

/** The content of a resource that matters for serving (metadata reduced to what config reads: no resourceVersion, managedFields...). */
function textOf(r: ConfigResource): string {
  const o = r.object as KubeObject & Record<string, unknown>;
  const { metadata, ...rest } = o;
  return JSON.stringify([rest, metadata?.name, metadata?.namespace, metadata?.labels ?? {}, metadata?.annotations ?? {}]);
}

/** A short name of one version of a resource: its Kubernetes resourceVersion, or where it was read and a content hash. */
export function versionOf(r: ConfigResource): string {
  const rv = (r.object as KubeObject).metadata?.resourceVersion;
  const hash = createHash('sha256').update(JSON.stringify(r.object)).digest('hex').slice(0, 10);
  return rv ? `resourceVersion ${rv}` : `${r.source.file}${r.source.line ? `:${r.source.line}` : ''} (sha256 ${hash})`;
}

const ACTIONS = new Set([undefined, 'ALLOW', 'DENY', 'AUDIT', 'CUSTOM']);

/** A rejected AuthorizationPolicy that can still be enforced: its workload selection and action are usable and every error is in its rules (or is CUSTOM). */
function enforceable(r: ConfigResource, errors: readonly ConfigIssue[]): boolean {
  if (r.kind !== 'AuthorizationPolicy') return false;
  const spec = (r.object as KubeObject).spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) return false;
  if (!ACTIONS.has(spec.action as string | undefined)) return false;
  const sel = spec.selector as { matchLabels?: unknown } | undefined;
  if (sel !== undefined) {
    if (!sel || typeof sel !== 'object') return false;
    const ml = sel.matchLabels;
    if (ml !== undefined && (!ml || typeof ml !== 'object' || Array.isArray(ml) || Object.values(ml).some((v) => typeof v !== 'string'))) return false;
  }
  return errors.every((i) => i.field.startsWith('spec.rules') || i.field === 'spec.action' || i.field === 'spec.provider');
}

/** Keeps the last accepted version of every resource across validation passes. */
export class LastGoodConfig {
  private readonly good = new Map<string, Good>();

  /** The version kept for a key, if any (for status). */
  kept(key: string): { resource: ConfigResource; acceptedAt: Date } | undefined {
    return this.good.get(key);
  }

  /**
   * Validates `all` with `validate`; every rejected resource with an earlier accepted version is
   * validated again as that version, and served as it if it still passes.
   */
  apply(all: readonly ConfigResource[], validate: (rs: readonly ConfigResource[]) => ValidationResult, now = new Date()): LastGoodResult {
    const first = validate(all);
    const current = new Map(all.map((r) => [r.key, r]));
    const substitutes = new Map<string, Good>();
    for (const key of first.rejected) {
      const g = this.good.get(key);
      const r = current.get(key);
      if (g && r && g.text !== textOf(r)) substitutes.set(key, g);
    }
    let v = first;
    if (substitutes.size) {
      v = validate(all.map((r) => substitutes.get(r.key)?.resource ?? r));
      for (const key of [...substitutes.keys()]) if (v.rejected.has(key)) substitutes.delete(key);
    }
    const issuesOf = (r: ConfigResource, list: readonly ConfigIssue[]) => {
      const label = resourceLabel(r);
      return list.filter((i) => i.resource === label && i.file === r.source.file);
    };
    const issues: KeptIssue[] = [];
    const rejected = new Map<string, Handling>();
    const failClosed: ConfigResource[] = [];
    // Issues of the rejected updates, from the first pass, saying what keeps serving.
    for (const [key, g] of substitutes) {
      const r = current.get(key)!;
      const at = g.acceptedAt.toISOString();
      for (const i of issuesOf(r, first.issues)) {
        issues.push(i.severity !== 'error' ? i : {
          ...i,
          reason: `${i.reason}; kept version from ${at} (${versionOf(g.resource)}), rejected ${versionOf(r)}`,
          kept: { version: versionOf(g.resource), acceptedAt: at },
          rejectedVersion: versionOf(r),
        });
      }
      rejected.set(key, 'kept_last_good');
    }
    const replaced = new Set(substitutes.keys());
    for (const i of v.issues) {
      const key = [...replaced].find((k) => issuesOf(substitutes.get(k)!.resource, [i]).length);
      if (key) continue; // issues of a kept version were reported when it was accepted
      issues.push(i);
    }
    for (const key of v.rejected) {
      const r = current.get(key);
      if (!r) continue;
      const errors = issuesOf(r, v.issues).filter((i) => i.severity === 'error');
      if (enforceable(r, errors)) {
        failClosed.push(r);
        rejected.set(key, 'fail_closed');
        const action = ((r.object as KubeObject).spec as { action?: string } | undefined)?.action ?? 'ALLOW';
        const how = action === 'ALLOW'
          ? 'its rules that cannot be translated are skipped, so it allows less'
          : action === 'CUSTOM'
            ? 'what its rules match is denied'
            : 'what cannot be translated is ignored, so its rules match more';
        for (const i of issues) {
          if (i.severity === 'error' && i.resource === resourceLabel(r) && i.file === r.source.file && !i.enforced) {
            i.reason = `${i.reason}; the ${action} policy is enforced fail-closed: ${how}`;
            i.enforced = 'fail-closed';
          }
        }
      } else {
        rejected.set(key, 'dropped');
      }
    }
    const serve = [...v.accepted, ...failClosed];
    // Remember what was accepted; forget what is gone.
    const accepted = new Set(v.accepted.map((r) => r.key));
    for (const r of v.accepted) {
      if (replaced.has(r.key)) continue;
      const text = textOf(r);
      const prev = this.good.get(r.key);
      this.good.set(r.key, prev && prev.text === text ? { ...prev, resource: r } : { resource: r, text, acceptedAt: now });
    }
    for (const key of [...this.good.keys()]) if (!current.has(key) || (!accepted.has(key) && !replaced.has(key))) this.good.delete(key);
    return { serve, issues, rejected };
  }
}
