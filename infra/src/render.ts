// Renders the kustomizations to plain multi-document YAML for tools that do not run kustomize:
// dist/infra/k8s/<name>.yaml for base/crds, base/istio-system, base/samples and base (all), in apply order.
//   tsx infra/src/render.ts [outDir]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { renderKustomization } from './kustomize';

const infra = resolve(import.meta.dirname, '..');
const out = resolve(process.argv[2] ?? join(infra, '../dist/infra/k8s'));
mkdirSync(out, { recursive: true });
for (const [name, dir] of [['crds', 'base/crds'], ['istio-system', 'base/istio-system'], ['samples', 'base/samples'], ['all', 'base']]) {
  const objects = renderKustomization(join(infra, 'k8s', dir), infra);
  const text = objects.map((o) => `# Source: ${o.source}\n${stringify(o.object, { lineWidth: 0 })}`).join('---\n');
  writeFileSync(join(out, `${name}.yaml`), text);
  console.log(`${join(out, `${name}.yaml`)}: ${objects.length} objects`);
}
