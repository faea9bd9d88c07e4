/** Multi-document YAML parsing with the line of every document and field. */
import { isIP } from 'node:net';
import { LineCounter, parseAllDocuments, isMap, isSeq, isScalar, type Node } from 'yaml';
import { isKnownKind, kindFor, KINDS, splitApiVersion } from './kinds';
import type { ConfigIssue } from './issues';
import { makeResource, type ConfigResource, type SourceRef } from './resource';

/** Result of reading one file (or one object): the resources and the problems found. */
export interface ParseResult {
  resources: ConfigResource[];
  issues: ConfigIssue[];
  /** Documents of kinds tsmesh does not read (Deployment, ConfigMap...), as `Kind name`. */
  ignored: string[];
  /** The same documents in full, with where they are (so `analyze` can schema-check and list them). */
  unread?: UnreadObject[];
}

/** A document of a kind tsmesh does not read. */
export interface UnreadObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  object: Record<string, unknown>;
  source: SourceRef;
  lines?: ReadonlyMap<string, number>;
}

/**
 * Checks the envelope of one object (apiVersion, kind, metadata.name, accepted version) and makes
 * a resource of it. Objects of kinds tsmesh does not read are reported in `ignored`.
 */
export function envelopeToResource(obj: unknown, source: SourceRef, out: ParseResult, lines?: ReadonlyMap<string, number>, defaultNamespace = 'default'): ConfigResource | undefined {
  const at = (field: string): number | undefined => {
    for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
      const l = lines?.get(f);
      if (l !== undefined) return l;
    }
    return source.line;
  };
  const issue = (resource: string, field: string, code: string, reason: string) =>
    out.issues.push({ severity: 'error', code, file: source.file, line: at(field), resource, field, reason });
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    issue('document', '', 'DOC_NOT_OBJECT', 'a resource must be a mapping with apiVersion, kind and metadata');
    return undefined;
  }
  const o = obj as Record<string, unknown>;
  const apiKind = o.kind;
  if (typeof apiKind !== 'string' || !apiKind) {
    issue('document', 'kind', 'DOC_NO_KIND', 'kind is missing');
    return undefined;
  }
  if (typeof o.apiVersion !== 'string' || !o.apiVersion) {
    issue(apiKind, 'apiVersion', 'DOC_NO_API_VERSION', 'apiVersion is missing');
    return undefined;
  }
  const kind = kindFor(splitApiVersion(o.apiVersion).group, apiKind);
  if (!isKnownKind(kind) || (KINDS[kind].apiKind ?? kind) !== apiKind) {
    const m = (o.metadata ?? {}) as { name?: unknown; namespace?: unknown };
    const name = typeof m.name === 'string' ? m.name : '';
    out.ignored.push(`${apiKind} ${name}`.trim());
    (out.unread ??= []).push({ apiVersion: o.apiVersion, kind: apiKind, name, namespace: typeof m.namespace === 'string' ? m.namespace : defaultNamespace, object: o, source, lines });
    return undefined;
  }
  const info = KINDS[kind];
  const { group, version } = splitApiVersion(o.apiVersion);
  const meta = o.metadata as Record<string, unknown> | undefined;
  const name = typeof meta?.name === 'string' ? meta.name : '';
  const label = name ? `${kind} ${(meta?.namespace as string) || (info.namespaced ? defaultNamespace : '')}${info.namespaced ? '/' : ''}${name}` : kind;
  if (group !== info.group) {
    issue(label, 'apiVersion', 'DOC_WRONG_GROUP', `${apiKind} belongs to API group "${info.group || 'core'}", not "${group || 'core'}"`);
    return undefined;
  }
  if (!info.versions.includes(version)) {
    issue(label, 'apiVersion', 'DOC_UNSUPPORTED_VERSION', `version "${version}" is not accepted (accepted: ${info.versions.join(', ')})`);
    return undefined;
  }
  if (!meta || typeof meta !== 'object') {
    issue(label, 'metadata', 'DOC_NO_METADATA', 'metadata is missing');
    return undefined;
  }
  if (!name) {
    issue(label, 'metadata.name', 'DOC_NO_NAME', 'metadata.name is missing');
    return undefined;
  }
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    issue(label, 'metadata.name', 'DOC_BAD_NAME', `"${name}" is not a valid Kubernetes name (lowercase letters, digits, "-" and ".")`);
    return undefined;
  }
  if (meta.namespace !== undefined && (typeof meta.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(meta.namespace))) {
    issue(label, 'metadata.namespace', 'DOC_BAD_NAMESPACE', `"${String(meta.namespace)}" is not a valid namespace name`);
    return undefined;
  }
  if (kind === 'ServiceEntry') unquotedIpv6(o.spec);
  return makeResource(kind, o as never, source, info.namespaced, lines, defaultNamespace);
}

/**
 * An unquoted IPv6 address that ends in `::` (`- fd00::`) reads in YAML as a one-key mapping
 * `{"fd00:": null}`; in a ServiceEntry's `addresses` and endpoint `address` it can only mean the
 * address, so it is read back as one.
 */
function unquotedIpv6(spec: unknown): void {
  if (!spec || typeof spec !== 'object') return;
  const s = spec as { addresses?: unknown[]; endpoints?: { address?: unknown }[] };
  const fix = (v: unknown): unknown => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    const entries = Object.entries(v);
    if (entries.length !== 1 || entries[0][1] !== null) return v;
    const text = `${entries[0][0]}:`;
    return isIP(text) === 6 ? text : v;
  };
  if (Array.isArray(s.addresses)) s.addresses = s.addresses.map(fix);
  if (Array.isArray(s.endpoints)) for (const e of s.endpoints) if (e && typeof e === 'object') e.address = fix(e.address);
}

/** Records the line of every field under `node` into `lines`, keyed by dotted path with `[i]` for list items. */
function collectLines(node: Node | null | undefined, path: string, lc: LineCounter, lines: Map<string, number>): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const p = path ? `${path}.${key}` : key;
      const k = pair.key as Node | null;
      if (k?.range) lines.set(p, lc.linePos(k.range[0]).line);
      collectLines(pair.value as Node | null, p, lc, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = `${path}[${i}]`;
      const n = item as Node | null;
      if (n?.range) lines.set(p, lc.linePos(n.range[0]).line);
      collectLines(n, p, lc, lines);
    });
  }
}

/**
 * Parses a multi-document YAML text. Each document becomes a resource (a `List` becomes its
 * items); syntax errors, bad envelopes and unsupported versions become issues naming the file
 * and line. Namespaced resources with no namespace get `defaultNamespace`.
 */
export function parseConfigYaml(text: string, file: string, defaultNamespace = 'default'): ParseResult {
  const out: ParseResult = { resources: [], issues: [], ignored: [] };
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    out.issues.push({ severity: 'error', code: 'YAML_SYNTAX', file, resource: 'document', field: '', reason: 'not a YAML stream' });
    return out;
  }
  for (const doc of list) {
    const startLine = doc.contents?.range ? lc.linePos(doc.contents.range[0]).line : doc.range ? lc.linePos(doc.range[0]).line : 1;
    if (doc.errors.length) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? (e.pos ? lc.linePos(e.pos[0]).line : startLine);
        out.issues.push({ severity: 'error', code: 'YAML_SYNTAX', file, line, resource: 'document', field: '', reason: e.message.split('\n')[0] });
      }
      continue;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue;
    let js: unknown;
    try {
      js = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      out.issues.push({ severity: 'error', code: 'YAML_SYNTAX', file, line: startLine, resource: 'document', field: '', reason: (err as Error).message });
      continue;
    }
    const lines = new Map<string, number>();
    collectLines(doc.contents as Node, '', lc, lines);
    const o = js as { kind?: unknown; items?: unknown };
    if (o && typeof o === 'object' && typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
      o.items.forEach((item, i) => {
        const sub = new Map<string, number>();
        const prefix = `items[${i}]`;
        for (const [k, v] of lines) if (k.startsWith(`${prefix}.`)) sub.set(k.slice(prefix.length + 1), v);
        const r = envelopeToResource(item, { file, line: lines.get(prefix) ?? startLine }, out, sub, defaultNamespace);
        if (r) out.resources.push(r);
      });
      continue;
    }
    const r = envelopeToResource(js, { file, line: startLine }, out, lines, defaultNamespace);
    if (r) out.resources.push(r);
  }
  return out;
}
