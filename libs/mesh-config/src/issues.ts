/** Configuration problems: each names the file, the resource, the field and the reason. */

/** `error` rejects the resource; `warning` is reported and the resource is kept. */
export type Severity = 'error' | 'warning';

/** One problem found in the configuration. */
export interface ConfigIssue {
  severity: Severity;
  /** Stable code, e.g. `SCHEMA_UNKNOWN_FIELD`, `VS_WEIGHT_SUM`. */
  code: string;
  /** File path, or `kubernetes://<kind>/<namespace>/<name>` for objects from the API server. */
  file: string;
  /** 1-based line of the field (or of the document) when known. */
  line?: number;
  /** `Kind namespace/name`, or `Kind` alone when the name is unknown. */
  resource: string;
  /** Field path (`spec.http[0].route[1].weight`), empty for the whole document. */
  field: string;
  reason: string;
}

/** `file:line: Kind ns/name: field: reason` (the form printed by the control plane and `tsmesh analyze`). */
export function formatIssue(i: ConfigIssue): string {
  const where = i.line ? `${i.file}:${i.line}` : i.file;
  return `${i.severity === 'warning' ? 'warning: ' : ''}${where}: ${i.resource}${i.field ? `: ${i.field}` : ''}: ${i.reason}`;
}

/** Thrown when configuration cannot be used at all; carries the issues found. */
export class ConfigError extends Error {
  readonly code = 'MESH_CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
