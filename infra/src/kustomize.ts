// A small kustomize renderer for the layout in infra/k8s: `resources` (files and directories with a
// kustomization.yaml), `namespace` and `images`. Anything else is refused by name, so the manifests
// stay plain enough for `kubectl apply -k` and for the local runtime alike.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

/** One rendered object and the file it came from. */
export interface RenderedObject {
  source: string;
  object: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images']);
const CLUSTER_SCOPED = new Set([
  'Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'IngressClass',
]);

/** Reads every object of a YAML file, naming the file and line of a syntax error. */
export function readYamlObjects(file: string, root = process.cwd()): RenderedObject[] {
  const source = relative(root, file);
  const out: RenderedObject[] = [];
  parseAllDocuments(readFileSync(file, 'utf8')).forEach((doc, i) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      throw new Error(`${source} document ${i + 1}${e.linePos ? ` line ${e.linePos[0].line}` : ''}: invalid YAML: ${e.message.split('\n')[0]}`);
    }
    const value = doc.toJS() as RenderedObject['object'] | null;
    if (value === null) return;
    if (typeof value !== 'object' || typeof value.kind !== 'string' || typeof value.apiVersion !== 'string' || typeof value.metadata?.name !== 'string') {
      throw new Error(`${source} document ${i + 1}: not a Kubernetes object (apiVersion, kind and metadata.name are required)`);
    }
    out.push({ source: `${source}#${i + 1}`, object: value });
  });
  return out;
}

function walkContainers(obj: Record<string, unknown>, visit: (c: { image?: string }) => void): void {
  for (const [key, value] of Object.entries(obj)) {
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) value.forEach((c) => visit(c as { image?: string }));
    else if (value && typeof value === 'object') walkContainers(value as Record<string, unknown>, visit);
  }
}

/** Renders the kustomization in `dir` (recursively) to its objects, in order. */
export function renderKustomization(dir: string, root = process.cwd()): RenderedObject[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${relative(root, dir)}: no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key)) throw new Error(`${relative(root, file)}: "${key}" is not supported here (use resources, namespace, images)`);
  }
  const objects: RenderedObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${relative(root, file)}: resource ${entry} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? renderKustomization(path, root) : readYamlObjects(path, root)));
  }
  for (const { object } of objects) {
    if (k.namespace && !CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = k.namespace;
    for (const image of k.images ?? []) {
      walkContainers(object, (c) => {
        if (!c.image) return;
        const [name, tag] = c.image.split(':');
        if (name !== image.name) return;
        c.image = `${image.newName ?? name}:${image.newTag ?? tag ?? 'latest'}`;
      });
    }
  }
  return objects;
}
