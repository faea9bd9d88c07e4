/**
 * Policies that are valid but cannot be applied in full where they land: an AuthorizationPolicy
 * with HTTP-only fields or keys (methods, paths, hosts, request.headers, JWT attributes) that
 * selects a workload serving a TCP port (a sidecar's non-HTTP port, a gateway's TCP or TLS
 * passthrough server). There, as in Istio, an ALLOW rule using them is skipped
 * and a DENY rule ignores them (and denies more); this says so, as a warning naming the policy,
 * a workload and port, and each part not applied.
 */
import { issueAt, isHttpProtocol, type AuthorizationPolicySpec, type ConfigIssue } from '@tsmesh/mesh-config';
import { matches, type Config, type PushContext } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import { workloadPorts } from './listeners';
import { rbacFor } from './rbac';

const cache = new WeakMap<Config<AuthorizationPolicySpec>, string[]>();

/**
 * The TCP ports of a workload: a gateway's TCP and TLS-passthrough servers (its listeners come
 * from Gateways, not from its Service), else a sidecar's non-HTTP workload ports.
 */
function tcpPorts(push: PushContext, proxy: Proxy): number[] {
  const gateways = push.gateways.filter((g) => {
    const sel = g.spec.selector ?? {};
    return Object.keys(sel).length > 0 && matches(sel, proxy.labels);
  });
  if (gateways.length) {
    return gateways.flatMap((g) => (g.spec.servers ?? []).filter((sv) => {
      const proto = (sv.port?.protocol ?? '').toUpperCase();
      const mode = sv.tls?.mode;
      return proto === 'TCP' || proto === 'MONGO' || proto === 'TLS' || (proto === 'HTTPS' && (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH'));
    }).map((sv) => sv.port.number));
  }
  return workloadPorts(push, proxy).filter((wp) => !isHttpProtocol(wp.protocol)).map((wp) => wp.port);
}

/** What of a policy cannot be translated for a TCP port (memoized per policy object). */
function tcpProblems(p: Config<AuthorizationPolicySpec>): string[] {
  let out = cache.get(p);
  if (!out) {
    const problems = new Map<string, string[]>();
    rbacFor([p], 'tcp', problems);
    cache.set(p, (out = [...problems.values()].flat()));
  }
  return out;
}

const byInputs = new WeakMap<object, WeakMap<object, ConfigIssue[]>>();

/**
 * Warnings for the policies of a push that a TCP port of a workload they select cannot apply in
 * full (memoized on the registry and the policy list: a push that changes neither reuses them).
 */
export function partiallyAppliedPolicies(push: PushContext): ConfigIssue[] {
  let inner = byInputs.get(push.registry);
  if (!inner) byInputs.set(push.registry, (inner = new WeakMap()));
  let hit = inner.get(push.authorizationPolicies);
  if (!hit) inner.set(push.authorizationPolicies, (hit = compute(push)));
  return hit;
}

function compute(push: PushContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const p of push.authorizationPolicies) {
    const problems = tcpProblems(p);
    if (!problems.length) continue;
    const hits: string[] = [];
    for (const pod of push.registry.podsByKey.values()) {
      const proxy: Proxy = {
        id: '', kind: 'sidecar', ip: pod.status?.podIP ?? '', podName: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? 'default',
        labels: pod.metadata?.labels ?? {}, metadata: {},
      };
      if (!push.policiesFor([p], proxy.namespace, proxy.labels).length) continue;
      const tcp = tcpPorts(push, proxy);
      if (tcp.length) hits.push(`${proxy.namespace}/${proxy.podName} port ${tcp.join(', ')}`);
    }
    if (!hits.length) continue;
    out.push(issueAt(p.resource, 'spec.rules', 'AP_NOT_FULLY_APPLIED',
      `on TCP ports (${hits.slice(0, 3).join('; ')}${hits.length > 3 ? `; ${hits.length - 3} more` : ''}) HTTP-only parts cannot apply: ${problems.join('; ')}`, 'warning'));
  }
  return out;
}
