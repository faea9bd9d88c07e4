import type { V1ObjectMeta, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { InjectorError, InvalidManifestError } from './errors';
import type { InjectionConfig } from './inject/config';
import { ANNOTATION } from './inject/names';
import { isInjected, parseInjectValue } from './inject/policy';
import { injectPod } from './inject/template';
import { ownerUri } from './inject/workload';

interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec?: Record<string, unknown>;
  items?: unknown[];
}

/** Where a kind keeps its pod template (path of keys from the object), Istio's kube-inject set. */
const TEMPLATE_PATHS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** One object kube-inject changed or left alone, for a summary. */
export interface KubeInjectReport {
  resource: string;
  injected: boolean;
  reason: string;
}

function injectObject(obj: KubeObject, config: InjectionConfig, source: string, report: KubeInjectReport[]): KubeObject {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new InvalidManifestError(source, 'document is not a Kubernetes object');
  if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') {
    throw new InvalidManifestError(source, 'document needs string "apiVersion" and "kind" fields');
  }
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    return { ...obj, items: obj.items.map((item, i) => injectObject(item as KubeObject, config, `${source} items[${i}]`, report)) };
  }
  const namespace = obj.metadata?.namespace ?? 'default';
  const name = obj.metadata?.name ?? '';
  const resource = `${obj.kind} ${namespace}/${name}`;
  const isPod = obj.kind === 'Pod' && obj.apiVersion === 'v1';
  const path = TEMPLATE_PATHS[obj.kind];
  if (!isPod && !path) return obj;
  if (!name) throw new InvalidManifestError(source, `${obj.kind} needs metadata.name`);

  let template: V1PodTemplateSpec | V1Pod | undefined = obj as V1Pod;
  if (path) {
    let at: unknown = obj;
    for (const key of path) at = (at as Record<string, unknown> | undefined)?.[key];
    template = at as V1PodTemplateSpec | undefined;
    if (typeof template !== 'object' || template === null) throw new InvalidManifestError(source, `${resource}: ${path.join('.')} is required`);
  }
  const meta = template.metadata ?? {};
  const optOut = parseInjectValue(meta.labels?.[ANNOTATION.inject] ?? meta.annotations?.[ANNOTATION.inject]) === false;
  if (optOut) {
    report.push({ resource, injected: false, reason: `${ANNOTATION.inject} is "false"` });
    return obj;
  }
  if (isInjected(template as V1Pod)) {
    report.push({ resource, injected: false, reason: 'already injected' });
    return obj;
  }
  if (template.spec?.hostNetwork) {
    report.push({ resource, injected: false, reason: 'pod uses hostNetwork' });
    return obj;
  }
  const workload = isPod
    ? { name, owner: ownerUri('v1', 'Pod', namespace, name) }
    : { name, owner: ownerUri(obj.apiVersion, obj.kind, namespace, name) };
  const injected = injectPod(template as V1Pod, { namespace, workload, resource }, config);
  report.push({ resource, injected: true, reason: 'injected' });
  if (isPod) return injected as KubeObject;
  const out = structuredClone(obj) as Record<string, unknown>;
  let parent = out;
  for (const key of path!.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
  parent[path!.at(-1)!] = { metadata: injected.metadata, spec: injected.spec };
  return out as KubeObject;
}

/**
 * Offline injection, like `istioctl kube-inject -f`: every Pod and pod template (Deployment,
 * StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, and List items) in a
 * multi-document YAML gets the same sidecar the webhook would add; other documents pass unchanged.
 * Throws {@link InvalidManifestError} naming the document (and line) that is not valid YAML.
 */
export function kubeInject(yamlText: string, config: InjectionConfig, source = 'input'): { yaml: string; report: KubeInjectReport[] } {
  const docs = parseAllDocuments(yamlText, { prettyErrors: true });
  if (!Array.isArray(docs)) throw new InvalidManifestError(source, 'not a YAML stream');
  const report: KubeInjectReport[] = [];
  const out: string[] = [];
  // Syntax first, so a broken stream is reported before anything is injected.
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
      throw new InvalidManifestError(`${source} document ${i + 1}${line}`, `invalid YAML: ${e.message.split('\n')[0]}`);
    }
  });
  docs.forEach((doc, i) => {
    const where = `${source} document ${i + 1}`;
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) return;
    try {
      out.push(stringify(injectObject(value as KubeObject, config, where, report), { lineWidth: 0 }));
    } catch (err) {
      if (err instanceof InjectorError) throw err;
      throw new InvalidManifestError(where, (err as Error).message);
    }
  });
  return { yaml: out.join('---\n'), report };
}
