/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML read in tests */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { gatewayDeployment, KINDS, type KubernetesGatewayObject } from '@tsmesh/mesh-config';
import { readYamlObjects, renderKustomization, type RenderedObject } from '../src/kustomize';
import { ManifestValidator, validateRendered } from '../src/validate';

const infra = resolve(import.meta.dirname, '..');
const base = resolve(infra, 'k8s/base');
type Obj = RenderedObject['object'] & { spec?: Record<string, any>; data?: unknown };

let objects: RenderedObject[];
const find = (kind: string, name: string, namespace?: string): Obj => {
  const hit = objects.find((o) => o.object.kind === kind && o.object.metadata.name === name && (namespace === undefined || o.object.metadata.namespace === namespace));
  if (!hit) throw new Error(`${kind} ${namespace ?? '*'}/${name} not found`);
  return hit.object as Obj;
};
const all = (kind: string) => objects.filter((o) => o.object.kind === kind).map((o) => o.object as Obj);

beforeAll(() => {
  objects = renderKustomization(base, infra);
});
const samples = () => renderKustomization(resolve(infra, 'k8s/gateway-api'), infra);

describe('infra/k8s manifests', () => {
  it('every object validates against the Kubernetes schema and the CRDs', async () => {
    expect(objects.length).toBeGreaterThan(40);
    expect(await validateRendered(objects)).toEqual([]);
  });

  it('the Gateway API samples (infra/k8s/gateway-api) validate against the generated CRDs, and a bad one is refused by field', async () => {
    const samples = renderKustomization(resolve(infra, 'k8s/gateway-api'), infra);
    expect(samples.map((o) => `${o.object.kind}/${o.object.metadata.name}`)).toEqual(expect.arrayContaining(['Gateway/todolist-gateway', 'HTTPRoute/todolist', 'HTTPRoute/callme-split', 'GatewayClass/istio']));
    const crdObjects = objects.filter((o) => o.object.kind === 'CustomResourceDefinition');
    expect(await validateRendered([...crdObjects, ...samples])).toEqual([]);
    const bad = structuredClone(samples.find((o) => o.object.kind === 'HTTPRoute')!);
    ((bad.object.spec as any).rules[0].backendRefs[0] as Record<string, unknown>).wieght = 3;
    ((bad.object.spec as any).rules[0].backendRefs[1] as Record<string, unknown>).port = 'eighty';
    const errors = await validateRendered([...crdObjects, bad]);
    expect(errors.join('\n')).toMatch(/HTTPRoute default\/todolist.*backendRefs\.0.*wieght/);
    expect(errors.join('\n')).toMatch(/backendRefs\.1\.port: must be integer/);
  });

  it('the deployment made for a Gateway (gatewayDeployment) validates against the Kubernetes schema', async () => {
    const gw = samples().find((o) => o.object.kind === 'Gateway')!.object as unknown as KubernetesGatewayObject;
    gw.metadata = { ...gw.metadata, uid: '3b1d0c9e-0000-4000-8000-000000000001' };
    const made = gatewayDeployment(gw).map((object) => ({ source: 'gatewayDeployment', object: object as unknown as RenderedObject['object'] }));
    expect(made.map((o) => o.object.kind)).toEqual(['ServiceAccount', 'Deployment', 'Service']);
    expect(await validateRendered(made)).toEqual([]);
    // With infrastructure labels/annotations and each Service type Istio's annotation allows.
    for (const type of ['LoadBalancer', 'NodePort', 'ClusterIP']) {
      const g = { ...gw, metadata: { ...gw.metadata, annotations: { 'networking.istio.io/service-type': type } }, spec: { ...gw.spec, infrastructure: { labels: { team: 'web' }, annotations: { 'example.com/owner': 'web' } } } } as KubernetesGatewayObject;
      const objs = gatewayDeployment(g).map((object) => ({ source: `gatewayDeployment ${type}`, object: object as unknown as RenderedObject['object'] }));
      expect((objs[2].object.spec as { type: string }).type).toBe(type);
      expect(await validateRendered(objs)).toEqual([]);
    }
  });

  it("a deployed Gateway runs the proxy as infra/k8s's ingress gateway does (image, args, environment, probes)", () => {
    objects ??= renderKustomization(base, infra);
    const gw = samples().find((o) => o.object.kind === 'Gateway')!.object as unknown as KubernetesGatewayObject;
    gw.metadata = { ...gw.metadata, uid: '3b1d0c9e-0000-4000-8000-000000000001' };
    const made = (gatewayDeployment(gw)[1].spec as any).template.spec.containers[0];
    const ingress = find('Deployment', 'istio-ingressgateway', 'istio-system').spec!.template.spec.containers[0];
    expect(made.image).toBe(ingress.image);
    expect(made.args).toEqual(ingress.args);
    expect(made.env.map((e: { name: string }) => e.name)).toEqual(ingress.env.map((e: { name: string }) => e.name));
    const value = (c: any, n: string) => c.env.find((e: { name: string }) => e.name === n);
    for (const n of ['JWT_POLICY', 'PILOT_CERT_PROVIDER', 'CA_ADDR', 'PROXY_CONFIG', 'DISCOVERY_ADDRESS', 'POD_NAMESPACE', 'INSTANCE_IP', 'TRUST_DOMAIN']) expect(value(made, n)).toEqual(value(ingress, n));
    expect(made.readinessProbe.httpGet).toEqual(ingress.readinessProbe.httpGet);
    expect(made.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort()).toEqual(ingress.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort());
  });

  it('has unique names per kind and namespace', () => {
    const keys = objects.map((o) => `${o.object.apiVersion}/${o.object.kind}/${o.object.metadata.namespace ?? ''}/${o.object.metadata.name}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  it('defines the Istio-compatible CRDs and the Gateway API CRDs (standard channel, and TLSRoute / TCPRoute of the experimental one) for every served version', () => {
    const crds = all('CustomResourceDefinition').map((c) => `${c.spec!.group}/${c.spec!.names.kind}:${c.spec!.versions.map((v: { name: string }) => v.name).join(',')}`);
    expect(crds.sort()).toEqual([
      'gateway.networking.k8s.io/GRPCRoute:v1',
      'gateway.networking.k8s.io/Gateway:v1,v1beta1',
      'gateway.networking.k8s.io/GatewayClass:v1,v1beta1',
      'gateway.networking.k8s.io/HTTPRoute:v1,v1beta1',
      'gateway.networking.k8s.io/ReferenceGrant:v1beta1,v1',
      'gateway.networking.k8s.io/TCPRoute:v1alpha2',
      'gateway.networking.k8s.io/TLSRoute:v1alpha2,v1alpha3,v1',
      'networking.istio.io/DestinationRule:v1alpha3,v1beta1,v1',
      'networking.istio.io/EnvoyFilter:v1alpha3',
      'networking.istio.io/Gateway:v1alpha3,v1beta1,v1',
      'networking.istio.io/ServiceEntry:v1alpha3,v1beta1,v1',
      'networking.istio.io/Sidecar:v1alpha3,v1beta1,v1',
      'networking.istio.io/VirtualService:v1alpha3,v1beta1,v1',
      'security.istio.io/AuthorizationPolicy:v1beta1,v1',
      'security.istio.io/PeerAuthentication:v1beta1,v1',
      'security.istio.io/RequestAuthentication:v1beta1,v1',
    ]);
  });

  it("exposes Istio's service names and ports in istio-system", () => {
    const ports = (name: string) => find('Service', name, 'istio-system').spec!.ports.map((p: { port: number; targetPort: number }) => `${p.port}->${p.targetPort}`);
    expect(ports('istiod')).toEqual(['15010->15010', '15012->15012', '15014->15014']);
    expect(ports('istio-ca')).toEqual(['8060->8060', '15014->15014']);
    expect(ports('istio-sidecar-injector')).toEqual(['443->15017']);
    expect(ports('istio-ingressgateway')).toEqual(['15021->15021', '80->8080', '443->8443']);
    expect(find('Service', 'istio-ingressgateway').spec!.selector).toMatchObject({ istio: 'ingressgateway' });
    const gateway = find('Deployment', 'istio-ingressgateway', 'istio-system').spec!.template.spec;
    expect(gateway.containers[0].args.slice(0, 2)).toEqual(['proxy', 'router']);
    expect(gateway.securityContext.runAsUser).toBe(1337);
  });

  it('every Service selects the pods of some Deployment', () => {
    const podLabels = all('Deployment').map((d) => ({ ns: d.metadata.namespace, labels: d.spec!.template.metadata.labels as Record<string, string> }));
    for (const svc of all('Service')) {
      const selector = svc.spec!.selector as Record<string, string>;
      const match = podLabels.some((p) => p.ns === svc.metadata.namespace && Object.entries(selector).every(([k, v]) => p.labels[k] === v));
      expect(match, `Service ${svc.metadata.namespace}/${svc.metadata.name} selects no pods`).toBe(true);
      for (const port of svc.spec!.ports) expect(port.name, `Service ${svc.metadata.name} port ${port.port} needs a name (protocol selection)`).toMatch(/^(http|https|grpc|tcp|tls|status)/);
    }
  });

  it('every Deployment selector matches its template, and mesh pods run with a serviceAccount', () => {
    for (const d of all('Deployment')) {
      const labels = d.spec!.template.metadata.labels;
      for (const [k, v] of Object.entries(d.spec!.selector.matchLabels as Record<string, string>)) expect(labels[k]).toBe(v);
      const sa = d.spec!.template.spec.serviceAccountName;
      expect(sa, `${d.metadata.name} has no serviceAccountName`).toBeTruthy();
      find('ServiceAccount', sa, d.metadata.namespace);
      for (const c of d.spec!.template.spec.containers) expect(c.imagePullPolicy, `${d.metadata.name}/${c.name}`).toBe('IfNotPresent');
    }
  });

  it('the webhook configuration points at the injector and selects namespaces as Istio does', () => {
    const mwc = find('MutatingWebhookConfiguration', 'istio-sidecar-injector');
    const webhooks = (mwc as unknown as { webhooks: any[] }).webhooks;
    expect(webhooks.map((w) => w.clientConfig.service)).toEqual([
      { name: 'istio-sidecar-injector', namespace: 'istio-system', path: '/inject', port: 443 },
      { name: 'istio-sidecar-injector', namespace: 'istio-system', path: '/inject', port: 443 },
    ]);
    expect(webhooks[0].namespaceSelector.matchExpressions).toContainEqual({ key: 'istio-injection', operator: 'In', values: ['enabled'] });
    expect(webhooks[0].objectSelector.matchExpressions).toContainEqual({ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] });
    expect(webhooks[1].objectSelector.matchExpressions).toContainEqual({ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] });
    for (const w of webhooks) expect(w.admissionReviewVersions).toEqual(['v1']);
    expect(find('Namespace', 'default').metadata).toMatchObject({ labels: { 'istio-injection': 'enabled' } });
    expect((find('Namespace', 'istio-system').metadata as { labels?: Record<string, string> }).labels?.['istio-injection']).toBeUndefined();
  });

  it('sample routing: todolist 90/10 at the gateway, callme 20/80 in the mesh, faults on caller, all to real subsets', () => {
    const gw = find('Gateway', 'tsmesh-gateway', 'default');
    expect(gw.spec!.selector).toEqual({ istio: 'ingressgateway' });
    const subsets = new Map<string, string[]>(all('DestinationRule').map((dr) => [dr.spec!.host, dr.spec!.subsets.map((s: { name: string }) => s.name)]));
    const services = new Set(all('Service').map((s) => s.metadata.name));
    const weights = (vs: Obj, route: string) => vs.spec!.http.find((h: { name: string }) => h.name === route).route.map((r: any) => `${r.destination.subset}:${r.weight}`);
    const todolist = find('VirtualService', 'todolist', 'default');
    expect(todolist.spec!.gateways).toEqual(['tsmesh-gateway']);
    expect(weights(todolist, 'todolist-canary')).toEqual(['v1:90', 'v2:10']);
    const callme = find('VirtualService', 'callme-service', 'default');
    expect(weights(callme, 'split')).toEqual(['v1:20', 'v2:80']);
    const faults = todolist.spec!.http.filter((h: any) => h.fault).map((h: any) => h.fault);
    expect(faults).toEqual([{ abort: { httpStatus: 503, percentage: { value: 100 } } }, { delay: { fixedDelay: '2s', percentage: { value: 100 } } }]);
    for (const vs of all('VirtualService')) {
      for (const http of vs.spec!.http) {
        for (const r of http.route) {
          expect(services.has(r.destination.host), `${vs.metadata.name}: ${r.destination.host} is not a Service`).toBe(true);
          expect(subsets.get(r.destination.host), `${vs.metadata.name}: subset ${r.destination.subset}`).toContain(r.destination.subset);
        }
        const total = http.route.reduce((n: number, r: { weight?: number }) => n + (r.weight ?? 0), 0);
        if (http.route.length > 1) expect(total).toBe(100);
      }
    }
  });

  it("accepts Istio resources as users write them (every kind and version)", async () => {
    const examples = readYamlObjects(resolve(import.meta.dirname, 'testdata/istio-examples.yaml'), infra);
    expect(new Set(examples.map((o) => o.object.kind)).size).toBe(8);
    const validator = new ManifestValidator(all('CustomResourceDefinition') as Record<string, unknown>[]);
    expect(await validator.validate(examples)).toEqual([]);
  });

  it('refuses bad manifests, naming the object, field and reason', async () => {
    const crds = all('CustomResourceDefinition');
    const validator = new ManifestValidator(crds as Record<string, unknown>[]);
    const bad = async (text: string) => {
      const objs = parseAllDocuments(text).map((d, i) => ({ source: `bad.yaml#${i + 1}`, object: d.toJS() }));
      return validator.validate(objs as RenderedObject[]);
    };
    expect(await bad('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {spec: {containers: [{name: a, image: b, bogus: 1}]}}}\n')).toEqual([
      'bad.yaml#1 Deployment x: .spec.replicas: must be integer',
      'bad.yaml#1 Deployment x: .spec.template.spec.containers[0].bogus: unknown field',
    ]);
    expect(await bad('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec: {hosts: [a], http: [{route: [{destination: {hots: a}, weight: "10"}]}]}\n')).toEqual([
      "bad.yaml#1 VirtualService vs: .spec.http.0.route.0.destination: must have required property 'host'",
      'bad.yaml#1 VirtualService vs: .spec.http.0.route.0.destination: must NOT have additional properties (hots)',
      'bad.yaml#1 VirtualService vs: .spec.http.0.route.0.weight: must be integer',
    ]);
    expect(await bad('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\nspec: {mtls: {mode: STRICTLY}}\n')).toEqual([
      'bad.yaml#1 PeerAuthentication pa: .spec.mtls.mode: must be equal to one of the allowed values',
    ]);
    expect(await bad('apiVersion: networking.istio.io/v9\nkind: Gateway\nmetadata: {name: g}\nspec: {}\n')).toEqual([
      'bad.yaml#1 Gateway g: networking.istio.io/v9 Gateway: no CRD defines this kind and version',
    ]);
  });

  it('renders as kubectl kustomize does (when kubectl is installed)', (ctx) => {
    let rendered: string;
    try {
      rendered = execFileSync('kubectl', ['kustomize', base], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, maxBuffer: 64 << 20 });
    } catch (err) {
      // Only a missing kubectl skips; any other failure (its error, a timeout, output too large) fails.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      ctx.skip('kubectl is not installed: cross-check with kubectl kustomize skipped');
      return;
    }
    const theirs = parseAllDocuments(rendered).map((d) => d.toJS() as Obj);
    const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(theirs.map(key).sort()).toEqual(objects.map((o) => key(o.object as Obj)).sort());
    const ours = new Map(objects.map((o) => [key(o.object as Obj), o.object]));
    for (const o of theirs) expect(o, key(o)).toEqual(ours.get(key(o)));
  });
});

describe('what a plain cluster gets from the manifests alone', () => {
  it('no pod waits for a Secret or ConfigMap nobody makes: every secret/configMap volume is optional, and the components make their own', () => {
    objects ??= renderKustomization(base, infra);
    const made = new Set(objects.filter((o) => o.object.kind === 'Secret' || o.object.kind === 'ConfigMap').map((o) => `${o.object.kind}/${o.object.metadata.namespace}/${o.object.metadata.name}`));
    for (const d of all('Deployment')) {
      const ns = d.metadata.namespace ?? 'default';
      for (const v of d.spec!.template.spec.volumes ?? []) {
        const ref = v.secret ? `Secret/${ns}/${v.secret.secretName}` : v.configMap ? `ConfigMap/${ns}/${v.configMap.name}` : undefined;
        if (!ref || made.has(ref)) continue;
        // istio-ca-root-cert is written into every namespace by the CA (--kubernetes); anything else must be optional.
        const optional = (v.secret ?? v.configMap).optional === true;
        expect(optional || ref.endsWith('/istio-ca-root-cert'), `${ns}/${d.metadata.name} volume ${v.name} (${ref}) would keep the pod in ContainerCreating`).toBe(true);
      }
    }
    const args = (name: string) => find('Deployment', name, 'istio-system').spec!.template.spec.containers[0].args as string[];
    expect(args('istio-sidecar-injector')).toContain('--self-signed-dir'); // its own serving certificate and caBundle
    expect(args('istio-ca')).toContain('--kubernetes'); // root in istio-ca-secret, istio-ca-root-cert ConfigMaps, TokenReview
  });
});

describe('RBAC', () => {
  const grants = (role: Obj) => ((role as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[] }).rules)
    .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}${r.resourceNames ? `@${r.resourceNames.join(',')}` : ''}`))))
    .sort();

  it("istiod's ClusterRole reads exactly the kinds the control plane watches, patches the status of the Gateway API kinds it writes status for, deploys Gateways, and nothing else", () => {
    objects ??= renderKustomization(base, infra);
    const watched = Object.values(KINDS).flatMap((k) => ['get', 'list', 'watch'].map((v) => `${k.group}/${k.plural}:${v}`));
    const status = ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'tlsroutes', 'tcproutes'].map((p) => `gateway.networking.k8s.io/${p}/status:patch`);
    // Automated Gateway deployment: server-side apply (create + patch), delete, and a read of Deployments.
    const deploy = ['/services', '/serviceaccounts', 'apps/deployments'].flatMap((r) => ['create', 'patch', 'delete'].map((v) => `${r}:${v}`)).concat('apps/deployments:get');
    expect(grants(find('ClusterRole', 'istiod'))).toEqual([...watched, ...status, ...deploy].sort());
  });

  it("the injector's ClusterRole reads namespaces and patches only its own webhook configuration", () => {
    objects ??= renderKustomization(base, infra);
    expect(grants(find('ClusterRole', 'istio-sidecar-injector'))).toEqual([
      '/namespaces:get', '/namespaces:list', '/namespaces:watch',
      'admissionregistration.k8s.io/mutatingwebhookconfigurations:get@istio-sidecar-injector',
      'admissionregistration.k8s.io/mutatingwebhookconfigurations:patch@istio-sidecar-injector',
    ].sort());
  });
});

describe('infra/kind', () => {
  it('maps host ports 80 and 443 to the ingress gateway NodePorts', () => {
    objects ??= renderKustomization(base, infra);
    const kind = parseAllDocuments(readFileSync(resolve(infra, 'kind/cluster.yaml'), 'utf8'))[0].toJS();
    expect(kind).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    const mappings = kind.nodes[0].extraPortMappings as { containerPort: number; hostPort: number }[];
    const nodePorts = new Map<number, number>(find('Service', 'istio-ingressgateway').spec!.ports.filter((p: any) => p.nodePort).map((p: any) => [p.port, p.nodePort]));
    expect(mappings.map((m) => [m.hostPort, m.containerPort])).toEqual([[80, nodePorts.get(80)], [443, nodePorts.get(443)]]);
    const [major, minor] = /kindest\/node:v(\d+)\.(\d+)/.exec(kind.nodes[0].image)!.slice(1).map(Number);
    expect(major * 100 + minor, 'native sidecars need Kubernetes >= 1.29').toBeGreaterThanOrEqual(129);
    expect(kind.nodes[0].image, 'the node image is pinned by digest').toMatch(/^kindest\/node:v[\d.]+@sha256:[0-9a-f]{64}$/);
    for (const m of mappings as { listenAddress?: string }[]) expect(m.listenAddress, 'host ports on loopback only').toBe('127.0.0.1');
  });
});
