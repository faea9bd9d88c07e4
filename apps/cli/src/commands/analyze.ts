/** `tsmesh analyze`: validates Istio and Kubernetes YAML the way the control plane does, offline. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatIssue, parseConfigYaml, validateConfig, type ConfigIssue, type ConfigResource } from '@tsmesh/mesh-config';

/** Result of an analysis: what was read, and every issue found. */
export interface AnalyzeResult {
  files: string[];
  resources: number;
  issues: ConfigIssue[];
}

/** YAML files under the given paths (directories are walked, hidden entries skipped), sorted. */
export function collectYamlFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(join(p, name));
    } else if (/\.ya?ml$/i.test(p)) {
      out.push(p);
    }
  };
  for (const p of paths) walk(p);
  return out;
}

/** Parses and validates every file together (cross-resource checks see all of them). */
export function analyze(paths: string[], namespace = 'default'): AnalyzeResult {
  const files = collectYamlFiles(paths);
  const resources: ConfigResource[] = [];
  const issues: ConfigIssue[] = [];
  for (const file of files) {
    const parsed = parseConfigYaml(readFileSync(file, 'utf8'), file, namespace);
    resources.push(...parsed.resources);
    issues.push(...parsed.issues);
  }
  const v = validateConfig(resources);
  issues.push(...v.issues);
  return { files, resources: resources.length, issues };
}

/** Text report: one line per issue, then a summary. */
export function formatAnalysis(r: AnalyzeResult): string {
  const errors = r.issues.filter((i) => i.severity === 'error').length;
  const warnings = r.issues.length - errors;
  const lines = r.issues.map(formatIssue);
  lines.push(`${r.files.length} file(s), ${r.resources} resource(s): ${errors} error(s), ${warnings} warning(s)`);
  return lines.join('\n') + '\n';
}
