/** The Gateway API flavour of the seeds (infra/k8s/gateway-api) and helpers of its scenarios. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const DIR = join('infra', 'k8s', 'gateway-api');

/** The YAML of infra/k8s/gateway-api, in its kustomization's resources order. */
export function gatewayApiSamples(): string {
  const k = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return k.resources.map((f) => readFileSync(join(DIR, f), 'utf8')).join('\n---\n');
}

/** The documents of the samples whose kind is in `kinds` (e.g. to delete one route). */
export function gatewayApiSample(kind: string, name: string): string {
  const docs = gatewayApiSamples().split(/^---$/m).filter((d) => new RegExp(`^kind: ${kind}$`, 'm').test(d) && new RegExp(`^  name: ${name}$`, 'm').test(d));
  if (!docs.length) throw new Error(`no ${kind} ${name} in ${DIR}`);
  return docs.join('\n---\n');
}

/** The automatically deployed Gateway of the samples: its name, namespace and the labels of its pods. */
export const SAMPLE_GATEWAY = { namespace: 'default', name: 'todolist-gateway', service: 'todolist-gateway-istio', labels: { 'gateway.networking.k8s.io/gateway-name': 'todolist-gateway' } };

/** Sum of the `istio_requests_total` series in Prometheus text whose labels include every one of `labels`. */
export function requestsTotal(text: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('istio_requests_total{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}
