/**
 * Operator commands against the running mesh, through the built `tsmesh` bundle
 * (`dist/apps/cli/main.js`) as an operator runs it: proxy-config from a proxy's own admin, x
 * describe, dashboard envoy|controlz|prometheus, bug-report. Registered by mesh.spec.ts.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { extract } from 'tar';
import type { MeshDriver } from '../src/drivers/types';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/apps/cli/main.js');
const run = promisify(execFile);

type Row = string[];
const rows = (text: string): Row[] => text.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));

export function operatorScenarios(driver: MeshDriver): void {
  describe('operator commands (tsmesh as istioctl)', () => {
    const tsmesh = async (...args: string[]) => {
      const r = await run(process.execPath, [CLI, '--control-plane', driver.controlPlane(), ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }).catch((e: { stdout?: string; stderr?: string; code?: number }) => {
        throw new Error(`tsmesh ${args.join(' ')} failed (${e.code}): ${e.stderr ?? ''}${e.stdout ?? ''}`);
      });
      return r.stdout;
    };
    /** Starts a long-running `tsmesh dashboard …`, returns the URL it prints and a stop function. */
    const dashboard = (...args: string[]) => new Promise<{ url: string; stop: () => Promise<number | null> }>((resolveUrl, reject) => {
      const child = spawn(process.execPath, [CLI, '--control-plane', driver.controlPlane(), 'dashboard', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`dashboard ${args.join(' ')}: no URL within 20 s: ${err}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^(http:\/\/\S+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolveUrl({ url: m[1], stop: () => new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : (child.once('exit', (c) => r(c)), child.kill('SIGINT')))) });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dashboard ${args.join(' ')} exited ${code}: ${err}`));
      });
    });
    const callmePod = async () => {
      const status = JSON.parse(await tsmesh('proxy-status', '-o', 'json')) as { pod: string; namespace: string }[];
      const p = status.find((s) => s.pod.startsWith('callme-service-v1-'));
      if (!p) throw new Error(`no callme-service-v1 proxy in ${JSON.stringify(status.map((s) => s.pod))}`);
      return p.pod;
    };

    it("proxy-config reads the proxy's own admin: clusters, listeners, routes, endpoints, secrets, bootstrap, log levels", async () => {
      const caller = JSON.parse(await tsmesh('proxy-status', '-o', 'json')).find((s: { pod: string }) => s.pod.startsWith('caller-service-')).pod as string;
      const clusters = rows(await tsmesh('proxy-config', 'cluster', `${caller}.default`));
      expect(clusters[0]).toEqual(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE']);
      expect(clusters.some((r) => r[0] === 'callme-service.default.svc.cluster.local' && r[1] === '8091' && r[2] === 'v2' && r[3] === 'outbound')).toBe(true);
      const filtered = rows(await tsmesh('proxy-config', 'cluster', caller, '--fqdn', 'callme-service', '--subset', 'v1'));
      expect(filtered.slice(1).map((r) => r[2])).toEqual(['v1']);
      // the same listeners as the control plane says it sent: the proxy's view and the control plane's agree
      const fromProxy = rows(await tsmesh('proxy-config', 'listener', caller));
      const fromCp = rows(await tsmesh('proxy-config', 'listener', caller, '--source', 'control-plane'));
      expect(fromProxy[0]).toEqual(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION']);
      expect(fromProxy.some((r) => r[1] === '15006')).toBe(true);
      expect(fromProxy.slice(1).sort()).toEqual(fromCp.slice(1).sort());
      const routes = rows(await tsmesh('proxy-config', 'route', caller, '--name', '8091'));
      expect(routes.slice(1).every((r) => r[0] === '8091')).toBe(true);
      expect(routes.some((r) => r[1] === 'callme-service.default.svc.cluster.local:8091')).toBe(true);
      const eps = rows(await tsmesh('proxy-config', 'endpoint', caller, '--cluster', 'outbound|8091|v1|callme-service.default.svc.cluster.local'));
      expect(eps[0]).toEqual(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER']);
      expect(eps.length).toBeGreaterThan(1);
      expect(eps.slice(1).every((r) => r[1] === 'HEALTHY' && r[3] === 'outbound|8091|v1|callme-service.default.svc.cluster.local')).toBe(true);
      // secrets: the workload certificate (valid now) and the root, never a private key
      const secretsText = await tsmesh('proxy-config', 'secret', caller);
      const secrets = rows(secretsText);
      expect(secrets[0]).toEqual(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE']);
      expect(secrets.find((r) => r[0] === 'default')?.slice(1, 4)).toEqual(['Cert Chain', 'ACTIVE', 'true']);
      expect(secrets.find((r) => r[0] === 'ROOTCA')?.[1]).toBe('CA');
      const secretJson = await tsmesh('proxy-config', 'secret', caller, '-o', 'json');
      expect(secretJson).not.toContain('PRIVATE KEY');
      expect(secretJson).toContain('[redacted]');
      const leaf = JSON.parse(secretJson).find((s: { name: string }) => s.name === 'default');
      expect(Buffer.from(leaf.secret.tls_certificate.certificate_chain.inline_bytes, 'base64').toString()).toContain('BEGIN CERTIFICATE');
      const boot = JSON.parse(await tsmesh('proxy-config', 'bootstrap', caller));
      expect(boot['@type']).toBe('type.googleapis.com/envoy.admin.v3.BootstrapConfigDump');
      expect(boot.bootstrap.node.id).toMatch(new RegExp(`^sidecar~[\\d.]+~${caller}\\.default~default\\.svc\\.cluster\\.local$`));
      expect(boot.bootstrap.node.metadata.SERVICE_ACCOUNT).toBeTruthy();
      const yaml = await tsmesh('proxy-config', 'cluster', caller, '-o', 'yaml', '--fqdn', 'callme-service', '--subset', 'v2');
      expect(yaml).toMatch(/^- ["']@type["']: type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster$/m);
      expect(yaml).toContain('name: outbound|8091|v2|callme-service.default.svc.cluster.local');
      // log levels: set, read back, reset
      expect(await tsmesh('proxy-config', 'log', caller, '--level', 'debug')).toBe('active loggers:\n  tsmesh: debug\n');
      expect(await tsmesh('proxy-config', 'log', caller)).toBe('active loggers:\n  tsmesh: debug\n');
      expect(JSON.parse(await tsmesh('proxy-config', 'log', caller, '-r', '-o', 'json'))).toEqual({ tsmesh: 'warning' });
      await expect(tsmesh('proxy-config', 'log', caller, '--level', 'loud')).rejects.toThrow(/"loud" is not a level/);
      await expect(tsmesh('proxy-config', 'cluster', 'no-such-pod')).rejects.toThrow(/no connected proxy "no-such-pod"/);
    });

    it('x describe pod and svc name the routes, subsets, gateway, mTLS mode and policies that apply', async () => {
      const configz = (await (await fetch(`${driver.controlPlane()}/debug/configz`)).json()) as { kind: string; metadata: { name: string; namespace?: string }; spec?: { selector?: { matchLabels?: Record<string, string> }; mtls?: { mode?: string }; action?: string } }[];
      const pod = await callmePod();
      const text = await tsmesh('x', 'describe', 'pod', pod);
      expect(text).toMatch(new RegExp(`^Pod: ${pod}\\.default`));
      expect(text).toContain('Service: callme-service.default');
      expect(text).toMatch(/DestinationRule: \S+ for "callme-service[^"]*"\n {3}Matching subsets: v1\n {6}\(Non-matching subsets v2\)/);
      expect(text).toMatch(/VirtualService: \S+\.default/);
      expect(text).toMatch(/Route to host "callme-service[^"]*" subset "v1".* with weight \d+% \(this pod\)/);
      // the mTLS mode and the policies, from the config the control plane holds now
      const pa = configz.find((o) => o.kind === 'PeerAuthentication' && o.metadata.namespace === 'default' && !o.spec?.selector);
      expect(text).toContain(`Workload mTLS mode: ${pa?.spec?.mtls?.mode ?? 'PERMISSIVE'}`);
      const aps = configz.filter((o) => o.kind === 'AuthorizationPolicy' && ['default', 'istio-system'].includes(o.metadata.namespace ?? '') && Object.entries(o.spec?.selector?.matchLabels ?? {}).every(([k, v]) => k === 'app' && v === 'callme-service'));
      for (const ap of aps) expect(text).toContain(`${ap.spec?.action ?? 'ALLOW'} ${ap.metadata.name}.${ap.metadata.namespace}`);
      if (!aps.length) expect(text).toContain('AuthorizationPolicies: none');

      const svc = await tsmesh('x', 'describe', 'svc', 'todolist');
      expect(svc).toMatch(/^Service: todolist\.default\n {3}Port: \S* 8000\//);
      expect(svc).toMatch(/Pods: todolist-v1-\S+, todolist-v2-/);
      expect(svc).toMatch(/Subsets: v1 \(version=v1\), v2 \(version=v2\)/);
      expect(svc).toMatch(/VirtualService: todolist\.default[\s\S]*Route to host "todolist" subset "v1" port 8000 with weight 90%[\s\S]*subset "v2" port 8000 with weight 10%/);
      expect(svc).toMatch(/Exposed on Ingress Gateway tsmesh-gateway\.default \(selector istio=ingressgateway: istio-ingressgateway-/);
      await expect(tsmesh('x', 'describe', 'svc', 'nope')).rejects.toThrow(/service "nope" in namespace default not found/);
    });

    it('dashboard envoy and controlz forward to the pod and print a URL that answers; prometheus prints its URL', async () => {
      const pod = await callmePod();
      const envoy = await dashboard('envoy', `${pod}.default`);
      try {
        const dump = (await (await fetch(new URL('/config_dump', envoy.url))).json()) as { configs: { '@type': string }[] };
        expect(dump.configs[0]['@type']).toBe('type.googleapis.com/envoy.admin.v3.BootstrapConfigDump');
        expect((await (await fetch(new URL('/ready', envoy.url))).text()).trim()).toBe('LIVE');
      } finally {
        expect(await envoy.stop()).toBe(0);
      }
      const controlz = await dashboard('controlz');
      try {
        expect(controlz.url).toMatch(/\/debug\/syncz$/);
        const syncz = (await (await fetch(controlz.url)).json()) as { pod: string }[];
        expect(syncz.map((s) => s.pod)).toContain(pod);
      } finally {
        expect(await controlz.stop()).toBe(0);
      }
      const prom = driver.prometheus ? await driver.prometheus() : 'no Prometheus';
      if (typeof prom !== 'string') {
        const r = await run(process.execPath, [CLI, '--control-plane', driver.controlPlane(), 'dashboard', 'prometheus'], { env: { ...process.env, TSMESH_PROMETHEUS: prom.url } });
        expect(r.stdout).toBe(`${prom.url}/\n`);
      }
    });

    it('bug-report writes one tar.gz with configs, proxy dumps, logs, status and versions', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tsmesh-e2e-bug-report-'));
      const out = join(dir, 'report.tar.gz');
      const said = await tsmesh('bug-report', '--output', out);
      expect(said).toMatch(/^wrote .*report\.tar\.gz: \d+ files/);
      await extract({ file: out, cwd: dir });
      const root = join(dir, 'bug-report');
      const versions = JSON.parse(readFileSync(join(root, 'versions.json'), 'utf8'));
      expect(versions.node).toBe(process.version);
      const status = JSON.parse(readFileSync(join(root, 'status/proxy-status.json'), 'utf8')) as { pod: string; namespace: string }[];
      expect(status.length).toBeGreaterThan(4);
      const configz = JSON.parse(readFileSync(join(root, 'config/configz.json'), 'utf8')) as { kind: string }[];
      expect(configz.some((o) => o.kind === 'VirtualService')).toBe(true);
      expect(existsSync(join(root, 'config/VirtualService/default.todolist.yaml'))).toBe(true);
      const pod = await callmePod();
      const dump = JSON.parse(readFileSync(join(root, `proxies/default/${pod}/config_dump.json`), 'utf8')) as { configs: { '@type': string }[] };
      expect(dump.configs.map((c) => c['@type'].split('.').pop())).toContain('EndpointsConfigDump');
      expect(existsSync(join(root, `proxies/default/${pod}/control-plane-config-dump.json`))).toBe(true);
      expect(readFileSync(join(root, `proxies/default/${pod}/stats.txt`), 'utf8')).toMatch(/^cluster\./m);
      expect(readdirSync(join(root, `logs/default/${pod}`))).toEqual(expect.arrayContaining(['istio-proxy.log', 'callme-service.log']));
      // the runtime's own log and the control plane's container log have lines
      expect(readFileSync(join(root, 'logs/runtime.log'), 'utf8')).toContain(pod);
      const istiod = readdirSync(join(root, 'logs/istio-system')).find((d) => d.startsWith('istiod-'))!;
      const cpLogs = readdirSync(join(root, 'logs/istio-system', istiod)).map((f) => readFileSync(join(root, 'logs/istio-system', istiod, f), 'utf8')).join('');
      expect(cpLogs.length).toBeGreaterThan(0);
      // no private key anywhere in the archive
      const all = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? all(join(d, e.name)) : [join(d, e.name)]));
      for (const f of all(root)) expect(readFileSync(f, 'utf8').includes('PRIVATE KEY-----'), f).toBe(false);
      // everything of the control plane and of a serving proxy was collected (a pod going away meanwhile may be listed)
      const problems = readFileSync(join(root, 'problems.txt'), 'utf8');
      expect(problems).not.toMatch(/control plane|logs:/);
      expect(problems).not.toContain(pod);
    });
  });
}
