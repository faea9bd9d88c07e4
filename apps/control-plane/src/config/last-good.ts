/**
 * Nothing is lost: validation over the stores' resources that keeps, for every resource whose
 * update is rejected, the last version that was accepted — whichever store it came from (file or
 * Kubernetes), since it works on the resources the stores list. The rejected version's issues say
 * so ("kept version from <time>") and name both versions. A deleted resource is forgotten.
 *
 * Fail closed for security: a rejected security resource with no earlier version to keep is
 * still enforced as far as refusing it must not weaken anything — an AuthorizationPolicy as
 * Istio translates what it cannot fully understand (a DENY denies more, an ALLOW allows less), a
 * PeerAuthentication's STRICT, a RequestAuthentication's issuers (their tokens refused) — rather
 * than silently dropped, which would let through what it was written to stop.
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
const texts = new WeakMap<ConfigResource, string>();
function textOf(r: ConfigResource): string {
  // Memoized per resource object: the stores hand back the same object while it is unchanged.
  let t = texts.get(r);
  if (t === undefined) {
    const { metadata, ...rest } = r.object as KubeObject & Record<string, unknown>;
    texts.set(r, (t = JSON.stringify([rest, metadata?.name, metadata?.namespace, metadata?.labels ?? {}, metadata?.annotations ?? {}])));
  }
  return t;
}

/** A short name of one version of a resource: its Kubernetes resourceVersion, or where it was read and a content hash. */
export function versionOf(r: ConfigResource): string {
  const rv = (r.object as KubeObject).metadata?.resourceVersion;
  const hash = createHash('sha256').update(JSON.stringify(r.object)).digest('hex').slice(0, 10);
  return rv ? `resourceVersion ${rv}` : `${r.source.file}${r.source.line ? `:${r.source.line}` : ''} (sha256 ${hash})`;
}

const ACTIONS = new Set([undefined, 'ALLOW', 'DENY', 'AUDIT', 'CUSTOM']);

type Spec = Record<string, unknown>;
const isObj = (v: unknown): v is Spec => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The selector of a spec when it is usable as written (absent, or `matchLabels` of strings); false when it is not. */
function usableSelector(spec: Spec): Spec | undefined | false {
  const sel = spec.selector;
  if (sel === undefined) return undefined;
  if (!isObj(sel)) return false;
  const ml = sel.matchLabels;
  if (ml !== undefined && (!isObj(ml) || Object.values(ml).some((v) => typeof v !== 'string'))) return false;
  return sel;
}

/** Enforced versions, one per rejected object, so the same input gives the same object on every push (caches key on identity). */
const enforced = new WeakMap<ConfigResource, ConfigResource>();
function withSpec(r: ConfigResource, spec: Spec): ConfigResource {
  let out = enforced.get(r);
  if (!out) enforced.set(r, (out = Object.freeze({ ...r, object: { ...(r.object as object), spec } })));
  return out;
}

/**
 * The version of a rejected security resource (with no earlier version to keep) that is still
 * enforced, so that refusing it never weakens security, or null when dropping it cannot:
 * - AuthorizationPolicy, when its selection and action are usable and every error is in its
 *   rules (or is CUSTOM): as written (translation denies more / allows less);
 * - PeerAuthentication asking for STRICT: STRICT alone (at the levels it asked for it);
 * - RequestAuthentication: its issuers with no key that verifies anything, so their tokens are
 *   refused (as Istio does when it cannot get an issuer's keys), instead of passing unverified.
 * `how` says what is enforced, for the issue.
 */
function failClosedVersion(r: ConfigResource, errors: readonly ConfigIssue[]): { resource: ConfigResource; how: string } | null {
  const spec = (r.object as KubeObject).spec;
  if (!isObj(spec)) return null;
  const selector = usableSelector(spec);
  if (selector === false) return null;
  switch (r.kind) {
    case 'AuthorizationPolicy': {
      if (!ACTIONS.has(spec.action as string | undefined)) return null;
      if (!errors.every((i) => i.field.startsWith('spec.rules') || i.field === 'spec.action' || i.field === 'spec.provider')) return null;
      const action = (spec.action as string | undefined) ?? 'ALLOW';
      const how = action === 'ALLOW'
        ? 'its rules that cannot be translated are skipped, so it allows less'
        : action === 'CUSTOM' ? 'what its rules match is denied' : 'what cannot be translated is ignored, so its rules match more';
      return { resource: r, how: `the ${action} policy is enforced fail-closed: ${how}` };
    }
    case 'PeerAuthentication': {
      const labels = isObj(selector) && isObj(selector.matchLabels) && Object.keys(selector.matchLabels).length > 0;
      const strictTop = isObj(spec.mtls) && spec.mtls.mode === 'STRICT';
      const strictPorts = labels && isObj(spec.portLevelMtls)
        ? Object.entries(spec.portLevelMtls).filter(([p, v]) => /^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= 65535 && isObj(v) && v.mode === 'STRICT')
        : [];
      if (!strictTop && !strictPorts.length) return null;
      return {
        resource: withSpec(r, { ...(selector ? { selector } : {}), ...(strictTop ? { mtls: { mode: 'STRICT' } } : {}), ...(strictPorts.length ? { portLevelMtls: Object.fromEntries(strictPorts.map(([p]) => [p, { mode: 'STRICT' }])) } : {}) }),
        how: `the STRICT mTLS it asks for is enforced fail-closed${strictTop ? '' : ` on port${strictPorts.length > 1 ? 's' : ''} ${strictPorts.map(([p]) => p).join(', ')}`}; the rest is not applied`,
      };
    }
    case 'RequestAuthentication': {
      const issuers = (Array.isArray(spec.jwtRules) ? spec.jwtRules : []).map((x) => (isObj(x) ? x.issuer : undefined)).filter((i): i is string => typeof i === 'string' && i.length > 0);
      if (!issuers.length) return null;
      return {
        resource: withSpec(r, { ...(selector ? { selector } : {}), jwtRules: [...new Set(issuers)].map((issuer) => ({ issuer, jwks: '{"keys":[]}' })) }),
        how: `enforced fail-closed: tokens of ${[...new Set(issuers)].join(', ')} are refused (401) until it is fixed, as when an issuer's keys cannot be fetched`,
      };
    }
    default:
      return null;
  }
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
      const fc = failClosedVersion(r, errors);
      if (fc) {
        failClosed.push(fc.resource);
        rejected.set(key, 'fail_closed');
        // Copies: validation caches its issue objects per resource.
        issues.forEach((i, n) => {
          if (i.severity === 'error' && i.resource === resourceLabel(r) && i.file === r.source.file && !i.enforced) {
            issues[n] = { ...i, reason: `${i.reason}; ${fc.how}`, enforced: 'fail-closed' };
          }
        });
      } else {
        rejected.set(key, 'dropped');
      }
    }
    const serve = [...v.accepted, ...failClosed];
    // Remember what was accepted; forget what is gone.
    const accepted = new Set(v.accepted.map((r) => r.key));
    for (const r of v.accepted) {
      if (replaced.has(r.key)) continue;
      const prev = this.good.get(r.key);
      if (prev?.resource === r) continue;
      const text = textOf(r);
      this.good.set(r.key, prev && prev.text === text ? { ...prev, resource: r } : { resource: r, text, acceptedAt: now });
    }
    for (const key of [...this.good.keys()]) if (!current.has(key) || (!accepted.has(key) && !replaced.has(key))) this.good.delete(key);
    return { serve, issues, rejected };
  }
}
