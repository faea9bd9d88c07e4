/** A parsed resource with its source (file and line) and the line of every field. */
import type { Kind } from './kinds';
import type { ConfigIssue, Severity } from './issues';

/** Where a resource came from. */
export interface SourceRef {
  /** File path, or `kubernetes://<kind>/<namespace>/<name>`. */
  file: string;
  /** 1-based line where the document starts. */
  line?: number;
}

/** One resource of any known kind. `object` is the whole object as read (apiVersion, kind, metadata, spec...). */
export interface ConfigResource<T = unknown> {
  readonly kind: Kind;
  readonly apiVersion: string;
  /** Empty for cluster-scoped kinds (Namespace). */
  readonly namespace: string;
  readonly name: string;
  /** `Kind/namespace/name`: unique within a config set. */
  readonly key: string;
  readonly object: T;
  readonly source: SourceRef;
  /** Field path (`spec.http[0].route`) → 1-based line, when parsed from YAML. */
  readonly lines?: ReadonlyMap<string, number>;
}

/** `Kind/namespace/name`. */
export function resourceKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** `Kind namespace/name` as shown in messages. */
export function resourceLabel(r: Pick<ConfigResource, 'kind' | 'namespace' | 'name'>): string {
  return r.namespace ? `${r.kind} ${r.namespace}/${r.name}` : `${r.kind} ${r.name}`;
}

/** Line of a field, or of its nearest ancestor that has one, or of the document. */
export function fieldLine(r: ConfigResource, path: string): number | undefined {
  let p = path;
  for (;;) {
    const l = r.lines?.get(p);
    if (l !== undefined) return l;
    if (!p) return r.source.line;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut > 0 ? p.slice(0, cut) : '';
  }
}

/** An issue about a field of a resource, with file and line filled in. */
export function issueAt(r: ConfigResource, field: string, code: string, reason: string, severity: Severity = 'error'): ConfigIssue {
  return { severity, code, file: r.source.file, line: fieldLine(r, field), resource: resourceLabel(r), field, reason };
}

/** Builds a resource from an object that has passed the envelope checks. */
export function makeResource<T>(kind: Kind, obj: T & { apiVersion: string; metadata: { name: string; namespace?: string } }, source: SourceRef, namespaced: boolean, lines?: ReadonlyMap<string, number>, defaultNamespace = 'default'): ConfigResource<T> {
  const namespace = namespaced ? (obj.metadata.namespace || defaultNamespace) : '';
  if (namespaced && !obj.metadata.namespace) obj.metadata.namespace = namespace;
  return Object.freeze({ kind, apiVersion: obj.apiVersion, namespace, name: obj.metadata.name, key: resourceKey(kind, namespace, obj.metadata.name), object: obj, source, lines });
}
