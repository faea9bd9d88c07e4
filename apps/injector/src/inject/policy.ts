import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION, INJECTED, LABEL } from './names';

/** Namespaces the injector never touches (Istio ignores the same). */
export const IGNORED_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

/** The injection decision and why, for logs and tests. */
export interface InjectionDecision {
  inject: boolean;
  reason: string;
}

/** Reads Istio's boolean spellings (`y|yes|true|on`, `n|no|false|off`); anything else is undefined. */
export function parseInjectValue(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (['y', 'yes', 'true', 'on'].includes(v)) return true;
  if (['n', 'no', 'false', 'off'].includes(v)) return false;
  return undefined;
}

/** True when the pod already carries what injection adds (status annotation or an istio-proxy container). */
export function isInjected(pod: V1Pod): boolean {
  if (pod.metadata?.annotations?.[ANNOTATION.status] !== undefined) return true;
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return all.some((c) => c.name === INJECTED.proxyContainer);
}

/**
 * Decides whether a pod gets a sidecar, as Istio's webhook does:
 * the pod's `sidecar.istio.io/inject` label (or annotation) "false" always wins; an injected pod is
 * left alone; then the namespace label `istio-injection=enabled|disabled`; a pod with the label
 * "true" is injected in any namespace not disabled. `namespaceLabels` undefined means the namespace
 * is unknown: the webhook configuration's selectors already matched, so the pod is injected.
 */
export function decideInjection(pod: V1Pod, namespace: string, namespaceLabels: Record<string, string> | undefined): InjectionDecision {
  if (IGNORED_NAMESPACES.has(namespace)) return { inject: false, reason: `namespace ${namespace} is never injected` };
  if (pod.spec?.hostNetwork) return { inject: false, reason: 'pod uses hostNetwork' };
  if (isInjected(pod)) return { inject: false, reason: 'pod is already injected' };
  const labelValue = pod.metadata?.labels?.[ANNOTATION.inject];
  const annotationValue = pod.metadata?.annotations?.[ANNOTATION.inject];
  const podWants = parseInjectValue(labelValue ?? annotationValue);
  if (podWants === false) return { inject: false, reason: `pod has ${ANNOTATION.inject}: "${labelValue ?? annotationValue}"` };
  const nsValue = namespaceLabels?.[LABEL.namespaceInjection];
  if (nsValue === 'disabled') return { inject: false, reason: `namespace ${namespace} has ${LABEL.namespaceInjection}=disabled` };
  if (podWants === true) return { inject: true, reason: `pod has ${ANNOTATION.inject}: "true"` };
  if (namespaceLabels === undefined) return { inject: true, reason: 'webhook selectors matched (namespace labels not looked up)' };
  if (nsValue === 'enabled') return { inject: true, reason: `namespace ${namespace} has ${LABEL.namespaceInjection}=enabled` };
  return { inject: false, reason: `namespace ${namespace} is not labelled ${LABEL.namespaceInjection}=enabled and the pod did not opt in` };
}
