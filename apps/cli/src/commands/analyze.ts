/**
 * `tsmesh analyze`: checks Istio and Kubernetes YAML offline as `istioctl analyze` does — istioctl's
 * message codes and levels, its output formats (`log`, `json`, `yaml`) and exit codes (0, 64 bad
 * usage, 65 unparseable input, 79 messages at or above the failure threshold). Documents of kinds
 * tsmesh does not read are listed as not analysed (TSM0001), never skipped silently.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  analyzeConfig, documentationUrl, isStatusFile, LEVEL_ORDER, parseConfigYaml, parseStatusFile, statusFileFor,
  type AnalysisMessage, type WrittenStatus, type ConfigIssue, type ConfigResource, type Level, type UnreadObject,
} from '@tsmesh/mesh-config';
import { checkEnvoyFilterValue } from '@tsmesh/xds';

/** istioctl's exit codes. */
export const EXIT = { ok: 0, unknown: 1, usage: 64, dataError: 65, foundIssues: 79 } as const;

/** Result of an analysis: what was read, every message, and the files that did not parse. */
export interface AnalyzeResult {
  files: string[];
  resources: number;
  messages: AnalysisMessage[];
  /** YAML syntax and envelope problems (the input could not be read as resources). */
  parseErrors: ConfigIssue[];
  /** Validation issues in tsmesh's own form (`file:line: Kind ns/name: field: reason`). */
  issues: ConfigIssue[];
}

/** YAML files under the given paths (directories are walked, hidden entries and status files skipped), sorted. */
export function collectYamlFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(join(p, name));
    } else if (/\.ya?ml$/i.test(p) && !isStatusFile(p)) {
      out.push(p);
    }
  };
  for (const p of paths) walk(p);
  return out;
}

/** Parses every file and analyzes them together (cross-resource checks see all of them). */
export function analyze(paths: string[], namespace = 'default'): AnalyzeResult {
  const files = collectYamlFiles(paths);
  const resources: ConfigResource[] = [];
  const unread: UnreadObject[] = [];
  const parseErrors: ConfigIssue[] = [];
  // The status the control plane wrote beside each config file (the file store's `<name>.status.yaml`).
  const statuses: WrittenStatus[] = [];
  for (const file of files) {
    const parsed = parseConfigYaml(readFileSync(file, 'utf8'), file, namespace);
    resources.push(...parsed.resources);
    unread.push(...(parsed.unread ?? []));
    parseErrors.push(...parsed.issues);
    const status = statusFileFor(file);
    if (existsSync(status)) statuses.push(...parseStatusFile(readFileSync(status, 'utf8'), status));
  }
  const report = analyzeConfig({ resources, unread, statuses, options: { checkEnvoyFilterValue } });
  const envelope: AnalysisMessage[] = parseErrors
    .filter((i) => i.code !== 'YAML_SYNTAX')
    .map((i) => ({ code: 'IST0106', name: 'SchemaValidationError', level: 'Error', message: `Schema validation error: ${i.field ? `${i.field}: ` : ''}${i.reason}`, origin: i.resource, reference: i.line ? `${i.file}:${i.line}` : i.file, field: i.field || undefined }));
  return { files, resources: resources.length, messages: [...envelope, ...report.messages], parseErrors, issues: [...parseErrors, ...report.validation.issues] };
}

/** Options of the output: formats and thresholds as istioctl names them. */
export interface OutputOptions {
  output: 'log' | 'json' | 'yaml';
  outputThreshold: Level;
  failureThreshold: Level;
  namespace: string;
}

/** Parses a level name as istioctl accepts it (any case). */
export function parseLevel(s: string): Level | undefined {
  const l = s.toLowerCase();
  return l === 'info' ? 'Info' : l === 'warning' || l === 'warn' ? 'Warning' : l === 'error' ? 'Error' : undefined;
}

function forOutput(m: AnalysisMessage) {
  return { code: m.code, documentationUrl: documentationUrl(m.code), level: m.level, message: m.message, origin: m.origin, reference: m.reference };
}

/** Renders the analysis and picks the exit code. */
export function renderAnalysis(r: AnalyzeResult, o: OutputOptions): { out: string; err: string; code: number } {
  const shown = r.messages.filter((m) => LEVEL_ORDER[m.level] >= LEVEL_ORDER[o.outputThreshold]);
  const failing = r.messages.some((m) => LEVEL_ORDER[m.level] >= LEVEL_ORDER[o.failureThreshold] && m.code !== 'TSM0001' && m.code !== 'TSM0002');
  const syntax = r.parseErrors.filter((i) => i.code === 'YAML_SYNTAX');
  let err = syntax.map((i) => `Error: failed to parse ${i.file}${i.line ? `:${i.line}` : ''}: ${i.reason}\n`).join('');
  let out: string;
  if (o.output === 'json') out = JSON.stringify(shown.map(forOutput), null, 2) + '\n';
  else if (o.output === 'yaml') out = stringify(shown.map(forOutput));
  else {
    out = shown.map((m) => `${m.level} [${m.code}] (${m.origin}${m.reference ? ` ${m.reference}` : ''}) ${m.message}\n`).join('');
    if (!failing && !syntax.length) {
      out += r.messages.some((m) => m.level !== 'Info') ? '' : `\u2714 No validation issues found when analyzing namespace: ${o.namespace}.\n`;
    }
  }
  if (failing) err += `Error: Analyzers found issues when analyzing namespace: ${o.namespace}.\nSee https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions.\n`;
  const code = syntax.length ? EXIT.dataError : failing ? EXIT.foundIssues : EXIT.ok;
  return { out, err, code };
}
