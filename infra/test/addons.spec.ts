/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML read in tests */
/**
 * The optional add-ons (infra/k8s/addons): Prometheus with Istio's scrape jobs and annotation
 * convention and pod-discovery RBAC, and Jaeger taking OTLP — validated offline like the base
 * manifests, and Prometheus's configuration checked by Debian's `promtool` where it is installed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { renderKustomization, type RenderedObject } from '../src/kustomize';
import { validateRendered } from '../src/validate';

const infra = resolve(import.meta.dirname, '..');
const render = (name: string) => renderKustomization(resolve(infra, 'k8s/addons', name), infra);
const find = (objects: RenderedObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.object.kind === kind && x.object.metadata.name === name);
  if (!o) throw new Error(`${kind} ${name} not found`);
  return o.object as any;
};
const PROMTOOL = '/usr/bin/promtool';

describe('infra/k8s/addons/prometheus', () => {
  const objects = render('prometheus');
  const config = parse(find(objects, 'ConfigMap', 'prometheus').data['prometheus.yml']);
  const job = (name: string) => config.scrape_configs.find((j: any) => j.job_name === name);

  it('validates against the Kubernetes schema, in istio-system, not injected', async () => {
    expect(await validateRendered(objects)).toEqual([]);
    expect(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`).sort()).toEqual([
      'ClusterRole/prometheus', 'ClusterRoleBinding/prometheus', 'ConfigMap/prometheus', 'Deployment/prometheus', 'Service/prometheus', 'ServiceAccount/prometheus',
    ]);
    for (const o of objects) if (o.object.kind !== 'ClusterRole' && o.object.kind !== 'ClusterRoleBinding') expect(o.object.metadata.namespace).toBe('istio-system');
    const pod = find(objects, 'Deployment', 'prometheus').spec.template;
    expect(pod.metadata.labels['sidecar.istio.io/inject']).toBe('false');
    expect(pod.spec.serviceAccountName).toBe('prometheus');
    expect(pod.spec.containers[0].args).toContain('--config.file=/etc/prometheus/prometheus.yml');
    expect(find(objects, 'Service', 'prometheus').spec.ports[0]).toMatchObject({ port: 9090, targetPort: 9090 });
  });

  it('grants pod discovery only (get/list/watch pods), bound to its service account', () => {
    const role = find(objects, 'ClusterRole', 'prometheus');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const binding = find(objects, 'ClusterRoleBinding', 'prometheus');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'prometheus' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'prometheus', namespace: 'istio-system' }]);
  });

  it("has Istio's job names, the same as the local runtime's Prometheus", () => {
    expect(config.scrape_configs.map((j: any) => j.job_name)).toEqual(['prometheus', 'kubernetes-pods', 'istiod', 'istio-ca', 'istio-sidecar-injector']);
    for (const name of ['kubernetes-pods', 'istiod', 'istio-ca', 'istio-sidecar-injector']) expect(job(name).kubernetes_sd_configs[0].role).toBe('pod');
    expect(job('istio-sidecar-injector')).toMatchObject({ scheme: 'https', tls_config: { insecure_skip_verify: true } });
  });

  it("follows the prometheus.io/scrape|port|path annotation convention with Prometheus's relabelling semantics", () => {
    const rules = job('kubernetes-pods').relabel_configs as any[];
    const keep = rules.find((r) => r.action === 'keep');
    expect(keep.source_labels).toEqual(['__meta_kubernetes_pod_annotation_prometheus_io_scrape']);
    // Prometheus anchors relabel regexes; apply the address and path rules as it does
    const anchored = (re: string) => new RegExp(`^(?:${re})$`);
    const apply = (labels: Record<string, string>) => {
      const out = { ...labels };
      for (const r of rules) {
        const value = (r.source_labels ?? []).map((l: string) => out[l] ?? '').join(r.separator ?? ';');
        const m = anchored(r.regex ?? '(.*)').exec(value);
        if (r.action === 'keep' && !m) return null;
        if (r.action === 'drop' && m) return null;
        if ((r.action ?? 'replace') === 'replace' && m && r.target_label) out[r.target_label] = (r.replacement ?? '$1').replace(/\$(\d)/g, (_: string, i: string) => m[Number(i)] ?? '');
        if (r.action === 'labelmap') for (const [k, v] of Object.entries(out)) { const lm = anchored(r.regex).exec(k); if (lm) out[lm[1]] = v; }
      }
      return out;
    };
    const sidecar = apply({
      __address__: '10.244.0.7:8091', __meta_kubernetes_pod_phase: 'Running', __meta_kubernetes_namespace: 'default', __meta_kubernetes_pod_name: 'callme-v1-abc',
      __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true', __meta_kubernetes_pod_annotation_prometheus_io_port: '15020', __meta_kubernetes_pod_annotation_prometheus_io_path: '/stats/prometheus',
      __meta_kubernetes_pod_label_app: 'callme-service',
    });
    expect(sidecar).toMatchObject({ __address__: '10.244.0.7:15020', __metrics_path__: '/stats/prometheus', namespace: 'default', pod: 'callme-v1-abc', app: 'callme-service' });
    expect(apply({ __address__: '10.244.0.8', __meta_kubernetes_pod_phase: 'Running', __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'false' })).toBeNull();
    expect(apply({ __address__: '10.244.0.9:80', __meta_kubernetes_pod_phase: 'Succeeded', __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true', __meta_kubernetes_pod_annotation_prometheus_io_port: '15020' })).toBeNull();
  });

  // Debian's Prometheus is built without Kubernetes service discovery, so promtool checks the
  // configuration with each job's kubernetes_sd_configs swapped for a file_sd_configs: everything
  // else (relabel rules, regexes, TLS, scheme) is checked as written.
  it.skipIf(!existsSync(PROMTOOL))('is a configuration Prometheus accepts (promtool check config, Kubernetes SD swapped for file SD)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-addon-prom-'));
    const check = (cfg: any) => {
      const file = join(dir, 'prometheus.yml');
      for (const j of cfg.scrape_configs) if (j.kubernetes_sd_configs) {
        delete j.kubernetes_sd_configs;
        j.file_sd_configs = [{ files: [join(dir, `${j.job_name}.json`)] }];
      }
      writeFileSync(file, stringify(cfg));
      return execFileSync(PROMTOOL, ['check', 'config', '--syntax-only', file], { encoding: 'utf8', stdio: 'pipe' });
    };
    expect(check(parse(find(objects, 'ConfigMap', 'prometheus').data['prometheus.yml']))).toContain('SUCCESS');
    const broken = parse(find(objects, 'ConfigMap', 'prometheus').data['prometheus.yml']);
    broken.scrape_configs[1].relabel_configs[0].regex = '(unclosed';
    expect(() => check(broken)).toThrow();
  });
});

describe('infra/k8s/addons/jaeger', () => {
  const objects = render('jaeger');
  it('validates, takes OTLP on 4317/4318 (jaeger-collector) and serves the UI as tracing:80', async () => {
    expect(await validateRendered(objects)).toEqual([]);
    const ports = (svc: string) => find(objects, 'Service', svc).spec.ports.map((p: any) => `${p.name}:${p.port}->${p.targetPort}`);
    expect(ports('jaeger-collector')).toEqual(['grpc-otlp:4317->4317', 'http-otlp:4318->4318']);
    expect(ports('tracing')).toEqual(['http-query:80->16686']);
    expect(ports('zipkin')).toEqual(['http-zipkin:9411->9411']);
    const pod = find(objects, 'Deployment', 'jaeger').spec.template;
    expect(pod.metadata.labels['sidecar.istio.io/inject']).toBe('false');
    expect(pod.spec.containers[0].env).toContainEqual({ name: 'COLLECTOR_OTLP_ENABLED', value: 'true' });
    for (const svc of ['tracing', 'jaeger-collector', 'zipkin']) expect(find(objects, 'Service', svc).spec.selector).toEqual(pod.metadata.labels.app ? { app: 'jaeger' } : {});
  });
});
