// The kind driver's parts that need no cluster: what it sends to `kubectl apply`, the derived
// cluster config, the prerequisite checks and the command lines of every hook (with stand-in
// kind/kubectl/docker CLIs on PATH: no API server or kind cluster can run here).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootCa, exportPrivateKeyPem, parseCertificate } from '@tsmesh/certs';
import { parse, parseAllDocuments } from 'yaml';
import { applyPayload, CAPTURE_CONTAINER, CAPTURE_IMAGE, clusterConfig, KindCli, KindMeshDriver, renderKustomization, StandInTools } from './index';

const root = resolve(import.meta.dirname, '../../..');

/** Every path in a JSON value, e.g. `spec.versions.0.schema.openAPIV3Schema.properties.status.x-kubernetes-preserve-unknown-fields`. */
function paths(v: unknown, at = '', out: string[] = []): string[] {
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, at ? `${at}.${k}` : k, out);
  else out.push(`${at}=${JSON.stringify(v)}`);
  return out;
}

// Reading and walking every CRD of infra/k8s/base takes a second or two, more on a loaded machine.
describe('CRDs applied unchanged', { timeout: 180_000 }, () => {
  const crds = renderKustomization(join(root, 'infra/k8s/base/crds')).filter((o) => o.kind === 'CustomResourceDefinition');

  it('the apply payload holds every field of every CRD schema, enum and x-kubernetes-preserve-unknown-fields included', () => {
    expect(crds.length).toBeGreaterThan(5);
    const sent = parseAllDocuments(applyPayload(crds)).map((d) => d.toJS());
    expect(sent.length).toBe(crds.length);
    for (let i = 0; i < crds.length; i++) {
      const kept = new Set(paths(sent[i]));
      const lost = paths(crds[i]).filter((p) => !kept.has(p));
      expect(lost, `${(crds[i].metadata as { name: string }).name}`).toEqual([]);
    }
    const all = paths(crds).join('\n');
    expect(all).toMatch(/\.enum\.0=/);
    expect(all).toMatch(/x-kubernetes-preserve-unknown-fields=true/);
  });

  it("(why) @kubernetes/client-node's typed model drops them: what KubernetesObjectApi would send", () => {
    const lost = crds.flatMap((c) => {
      const typed = new Set(paths(JSON.parse(JSON.stringify(ObjectSerializer.serialize(c, 'V1CustomResourceDefinition')))));
      return paths(c).filter((p) => !typed.has(p));
    });
    expect(lost.some((p) => /\.enum\.\d+=/.test(p))).toBe(true);
    expect(lost.some((p) => /properties\.status\.x-kubernetes-preserve-unknown-fields=true/.test(p))).toBe(true);
  });
});

describe('the e2e cluster config', () => {
  it("is infra/kind/cluster.yaml with the cluster's own name and loopback host ports, so it runs beside the demo's cluster", () => {
    const base = readFileSync(join(root, 'infra/kind/cluster.yaml'), 'utf8');
    const cfg = parse(clusterConfig(base, 'tsmesh-e2e', { http: 18080, https: 18443 })) as { name: string; nodes: { image: string; extraPortMappings: { containerPort: number; hostPort: number; listenAddress: string }[] }[] };
    expect(cfg.name).toBe('tsmesh-e2e');
    expect(cfg.nodes[0].extraPortMappings).toEqual([
      { containerPort: 30080, hostPort: 18080, listenAddress: '127.0.0.1', protocol: 'TCP' },
      { containerPort: 30443, hostPort: 18443, listenAddress: '127.0.0.1', protocol: 'TCP' },
    ]);
    expect(cfg.nodes[0].image).toMatch(/^kindest\/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
  });

});

describe('prerequisites (stand-in CLIs on PATH)', () => {
  const tools = new StandInTools();
  afterEach(() => tools.restore());
  const withTools = (t: Record<string, string>) => tools.use(t);

  it("checks the shared kind prerequisites (@tsmesh/cluster's own tests cover each one) and names itself", async () => {
    const d = new KindMeshDriver(root);
    withTools({ kind: 'echo "kind v0.25.0 go1.22 linux/amd64"' });
    expect(await d.unavailable()).toMatch(/kubectl is not installed; the kind driver applies/);
    withTools({ kind: 'echo "kind v0.25.0"', kubectl: 'echo "{}"', docker: 'echo 27.0.0' });
    expect(await d.unavailable()).toBeNull();
  });
});

/**
 * A stand-in kubectl and kind (no API server or kind cluster can run here): each logs its argv, one
 * call per line with arguments joined by U+001F, and kubectl (testdata/stand-in-kubectl.sh) answers the few reads the hooks make
 * with pod objects shaped as `kubectl get -o json` prints them (two Ready pods, one terminating);
 * `iptables -L` counts 7 packets for every rule `-I` installed.
 */
const STAND_IN_KUBECTL = readFileSync(join(import.meta.dirname, 'testdata/stand-in-kubectl.sh'), 'utf8');

describe('command lines the kind driver builds (stand-in kubectl and kind: no API server or kind cluster here)', () => {
  const saved = { LOG: process.env.LOG, STATE: process.env.STATE, SECRET_JSON: process.env.SECRET_JSON };
  const tools = new StandInTools();
  let dir: string;
  const calls = () => readFileSync(join(dir, 'log'), 'utf8').split('\n').filter(Boolean);
  const argvs = () => calls().filter((l) => !l.startsWith('custom ')).map((l) => l.split('\x1f').filter(Boolean));
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    tools.restore();
    rmSync(dir, { recursive: true, force: true });
  });
  const setup = () => {
    const logArgv = `printf '%s\\037' "$@" >> "$LOG"; echo >> "$LOG"`;
    dir = tools.use({
      kubectl: STAND_IN_KUBECTL,
      kind: `#!/bin/bash\n${logArgv}\n[ "$1 $2" = "get clusters" ] && echo tsmesh-argv\nexit 0\n`,
      // build-images.sh, run by the driver as \`bash <script>\`: only logged here.
      bash: `#!/bin/sh\n${logArgv}\nexit 0\n`,
    }, { keepPath: true });
    writeFileSync(join(dir, 'state'), '');
    process.env.LOG = join(dir, 'log');
    process.env.STATE = join(dir, 'state');
  };

  it('every kubectl call names the kubeconfig and the context; watchWire adds a debug container to each Ready pod and counts on eth0', async () => {
    setup();
    const d = new KindMeshDriver(root, { clusterName: 'tsmesh-argv', kubeconfig: join(dir, 'kc.yaml'), ports: { http: 18080, https: 18443 } });
    expect(d.kubectl.argv(['get', 'ns'])).toEqual(['--kubeconfig', join(dir, 'kc.yaml'), '--context', 'kind-tsmesh-argv', 'get', 'ns']);
    expect(d.restarts('default', { app: 'callme-service' }, 'callme')).toBe(2);
    expect(() => d.podIP('default', { app: 'callme-service' })).toThrow(/route to the kind node/);
    await d.exec('default', { app: 'callme-service' }, ['node', '-e', '1']);
    const w = await d.watchWire('GET /callme/ping');
    expect(await w.packets()).toBe(14); // 7 on each of the two Ready pods; the terminating one is left alone
    await w.remove();
    await d.logs('default/callme-a', 'callme', 5).catch(() => undefined); // the stand-in answers no logs
    await d.down().catch(() => undefined);

    const kubectl = argvs().filter((a) => a[0] === '--kubeconfig' || a[0] === '--context');
    expect(kubectl.length).toBeGreaterThan(8);
    for (const a of kubectl) expect(a.slice(0, 4), a.join(' ')).toEqual(['--kubeconfig', join(dir, 'kc.yaml'), '--context', 'kind-tsmesh-argv']);
    expect(kubectl).toContainEqual([...kubectl[0].slice(0, 4), 'logs', '-n', 'default', 'callme-a', '-c', 'callme', '--tail=5']);
    const debug = kubectl.filter((a) => a[4] === 'debug');
    expect(debug.map((a) => a[7])).toEqual(['callme-a', 'callme-b']);
    expect(debug[0]).toEqual(expect.arrayContaining([`--image=${CAPTURE_IMAGE}`, '--image-pull-policy=IfNotPresent', '--profile=netadmin', '-c', CAPTURE_CONTAINER, '--attach=false']));
    expect(calls().filter((l) => l.startsWith('custom '))[0]).toMatch(/"runAsUser":0.*env=true/);
    const inserted = kubectl.filter((a) => a.includes('iptables') && a.includes('-I'));
    expect(inserted).toHaveLength(2);
    expect(inserted[0]).toEqual(expect.arrayContaining(['exec', '-c', CAPTURE_CONTAINER, '-i', 'eth0', '--string', 'GET /callme/ping']));
    expect(kubectl.filter((a) => a.includes('iptables') && a.includes('-D'))).toHaveLength(2);
    // down() ends each capture container (ephemeral containers cannot be removed).
    expect(kubectl.filter((a) => a.includes(CAPTURE_CONTAINER) && a.some((x) => x.includes('process.kill(1')))).toHaveLength(2);
  });

  it('up() on a reused cluster: build, load, namespaces and CRDs first, Established, the rest retried until served, the gateway Secret from the CA root, restarts, rollout, port-forward', async () => {
    setup();
    const ca = await createRootCa({ subject: 'O=cluster.local' });
    const pem = (x: string) => Buffer.from(x).toString('base64');
    writeFileSync(join(dir, 'secret.json'), JSON.stringify({ data: { 'ca-cert.pem': pem(ca.rootPem), 'ca-key.pem': pem(await exportPrivateKeyPem(ca.keys.privateKey)) } }));
    process.env.SECRET_JSON = join(dir, 'secret.json');
    const d = new KindMeshDriver(root, { clusterName: 'tsmesh-argv', kubeconfig: join(dir, 'kc.yaml'), ports: { http: 18080, https: 18443 } });
    await d.up();
    expect(d.controlPlane()).toBe('http://127.0.0.1:45678');
    await d.exec('default', { app: 'callme-service' }, ['node', join(root, 'e2e/src/pod-client.mjs'), '{}']);
    await d.down();
    expect(argvs()).toContainEqual(['delete', 'cluster', '--name', 'tsmesh-argv', '--kubeconfig', join(dir, 'kc.yaml')]);
    const lines = calls().map((l) => l.split('\x1f').join('␟')); // a visible separator for the patterns
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const order = [
      at(/build-images\.sh␟--tag␟latest/),
      at(/^load␟docker-image␟--name␟tsmesh-argv␟tsmesh\/proxy:latest/),
      at(/^applied CustomResourceDefinition,Namespace,$/),
      at(/␟wait␟--for=condition=Established␟.*crd\/virtualservices\.networking\.istio\.io/),
      at(/^applied .*Deployment.*VirtualService/),
      at(/^applied Secret,$/),
      at(/␟rollout␟restart␟deployment␟-n␟istio-system/),
      at(/␟rollout␟status␟deployment␟-n␟default/),
      at(/␟port-forward␟-n␟istio-system␟svc\/istiod␟:15014/),
    ];
    expect(order.every((i) => i >= 0), order.join(' ')).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // The apply refused while VirtualService was not served yet was sent again.
    expect(lines.filter((l) => /^applied .*VirtualService/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('create␟cluster'))).toEqual([]); // reused, not created
    // pod-client.mjs goes on stdin (the images do not carry it): kubectl exec -i … node --input-type=module - {}
    expect(lines.some((l) => /␟exec␟-i␟-n␟default␟callme-a␟-c␟callme␟--␟node␟--input-type=module␟-␟\{\}/.test(l))).toBe(true);
    expect(parseCertificate(ca.rootPem, 'root').isCa).toBe(true);
  });

  it('exec of a script into a container that exits without reading it: its exit code and stderr, no EPIPE thrown', async () => {
    setup();
    const d = new KindMeshDriver(root, { clusterName: 'tsmesh-argv', kubeconfig: join(dir, 'kc.yaml'), ports: { http: 18080, https: 18443 } });
    // larger than a pipe's buffer: the write cannot finish before kubectl is gone
    const script = join(dir, 'big.mjs');
    writeFileSync(script, `// ${'x'.repeat(1024 * 1024)}\n`);
    for (let i = 0; i < 3; i++) {
      const r = await d.exec('default', { app: 'callme-service' }, ['node', script, 'exits-unread']);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('container exited');
    }
  });

  it('kind create names the kubeconfig too, and nothing when none is set', async () => {
    setup();
    await new KindCli('tsmesh-argv', '/tmp/kc').create('/tmp/cluster.yaml');
    await new KindCli('tsmesh-argv').create('/tmp/cluster.yaml');
    expect(argvs()).toEqual([
      ['create', 'cluster', '--name', 'tsmesh-argv', '--kubeconfig', '/tmp/kc', '--config', '/tmp/cluster.yaml', '--wait', '180s'],
      ['create', 'cluster', '--name', 'tsmesh-argv', '--config', '/tmp/cluster.yaml', '--wait', '180s'],
    ]);
    expect(new KindMeshDriver(root, { clusterName: 'c' }).kubectl.argv(['x'])).toEqual(['--context', 'kind-c', 'x']);
  });
});
