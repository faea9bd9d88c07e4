/**
 * `tsmesh demo` (and `npm run demo`): the whole mesh — control plane, CA, injector, ingress gateway
 * and the sample apps with sidecars, with the canary config of infra/k8s/base — on the local runtime
 * (or on kind with `--kind`). Shows progress while it starts, a few requests through the gateway
 * (the 90/10 split by `x-version`, HTTPS with the mesh root, caller → callme inside the mesh), the
 * proxy status, the URLs and commands to try; Ctrl-C tears everything down. `--check` does the same
 * without waiting (plus a live move to 50/50) and exits 0 when everything worked, 1 otherwise.
 */
import { spawnSync } from 'node:child_process';
import { InvalidArgumentError, type Command } from 'commander';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { describeWrittenStatus, parseStatusFile } from '@tsmesh/mesh-config';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { KindMeshDriver, LocalMeshDriver, portFree, type MeshDriver } from '@tsmesh/cluster';
import { count, formatTally, ProgressTracker, share, statusLine, tryCommands, urlLines, type DemoEndpoints, type MeshSnapshot, type ProgressEvent, type Tally } from './demo-mesh';
import { formatProxyStatus, getJson, type ProxyStatusEntry } from './proxy-status';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Bring up, show, tear down and exit 0/1 instead of waiting for Ctrl-C. */
  check?: boolean;
  /** Run on a kind cluster instead of the local runtime. */
  kind?: boolean;
  /** Run the xDS interop demo instead (tools/demo-xds.ts). */
  xds?: boolean;
  /** Loopback port of the gateway's port 80 (0: any; default 8080, or any with `check`). */
  httpPort?: number;
  /** Loopback port of the gateway's port 443 (0: any; default 8443, or any with `check`). */
  httpsPort?: number;
  /** Seconds to wait for every pod to be ready (default 300). */
  timeout?: number;
  /** Requests through the gateway to show the split (default 100). */
  requests?: number;
  /** Keep the kind cluster after the demo. */
  keepCluster?: boolean;
  /** Also show the Kubernetes Gateway API flavour (infra/k8s/gateway-api). */
  gatewayApi?: boolean;
  /** Print every line of the runtime's log. */
  verbose?: boolean;
  /** The workspace root (default: found from this file or the cwd). */
  root?: string;
}

/** Finds the workspace root (the directory with nx.json) from this file or the cwd. */
export function workspaceRoot(): string {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let d = start; ; d = dirname(d)) {
      if (existsSync(join(d, 'nx.json')) && existsSync(join(d, 'infra/k8s/base'))) return d;
      if (dirname(d) === d) break;
    }
  }
  return process.cwd();
}

const t0 = Date.now();
const isTty = !!process.stdout.isTTY;
const color = (code: number) => (s: string) => (isTty ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = color(1);
const dim = color(2);
const green = color(32);
const red = color(31);
const yellow = color(33);

/** Writes lines, keeping a redrawn status line at the bottom on a terminal. */
class Screen {
  private status = '';
  private lastPrinted = '';
  private lastPrintedAt = 0;

  line(s = ''): void {
    if (isTty && this.status) process.stdout.write('\r\x1b[K');
    process.stdout.write(`${s}\n`);
    if (isTty && this.status) process.stdout.write(dim(this.status));
  }

  event(kind: string, subject: string, detail = ''): void {
    const secs = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
    const k = kind === 'warning' || kind === 'not ready' || kind === 'restarted' ? yellow(kind.padEnd(10)) : kind === 'ready' || kind === 'sidecar' ? green(kind.padEnd(10)) : kind.padEnd(10);
    this.line(`${dim(`${secs}s`)}  ${k} ${subject.padEnd(subject ? 52 : 0)} ${dim(detail)}`.trimEnd());
  }

  setStatus(s: string): void {
    if (isTty) {
      if (s === this.status) return;
      this.status = s;
      process.stdout.write(`\r\x1b[K${dim(s)}`);
    } else if (s !== this.lastPrinted && Date.now() - this.lastPrintedAt > 15_000) {
      this.lastPrinted = s;
      this.lastPrintedAt = Date.now();
      this.line(dim(`         ${s}`));
    }
  }

  clearStatus(): void {
    if (isTty && this.status) process.stdout.write('\r\x1b[K');
    this.status = '';
  }
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  cert?: { subject: string; san: string; issuer: string; authorized: boolean };
}

/** GET over HTTP, or HTTPS verified against `ca` with `servername` (and that name as Host unless `host` is given). */
function get(url: string, tls?: { ca: string; servername: string }, timeoutMs = 10_000, host?: string): Promise<Answer> {
  return new Promise((res, rej) => {
    const u = new URL(url);
    const opts = { method: 'GET', host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname, port: u.port, path: `${u.pathname}${u.search}`, headers: { host: host ?? u.host }, timeout: timeoutMs, agent: false as const };
    const req = tls ? httpsRequest({ ...opts, ca: tls.ca, servername: tls.servername }) : httpRequest(opts);
    req.on('response', (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => {
        const a: Answer = { status: r.statusCode ?? 0, headers: r.headers, body };
        const sock = r.socket as TLSSocket;
        if (tls && sock.getPeerCertificate) {
          const c = sock.getPeerCertificate();
          a.cert = { subject: String(c.subject?.CN ?? ''), san: c.subjectaltname ?? '', issuer: String(c.issuer?.O ?? c.issuer?.CN ?? ''), authorized: sock.authorized };
        }
        res(a);
      });
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', rej);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `requests` GETs to `url` (4 at a time), tallied by `label(answer)`. */
async function sample(url: string, requests: number, label: (a: Answer) => string, ok: (a: Answer) => boolean): Promise<Tally> {
  const t: Tally = { total: 0, counts: {}, failures: 0 };
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      next++;
      try {
        const a = await get(url);
        count(t, label(a), ok(a));
      } catch (err) {
        count(t, 'error', false);
        void err;
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return t;
}

const version = (a: Answer) => (a.status === 200 ? String(a.headers['x-version'] ?? 'no x-version') : `HTTP ${a.status}`);
const callme = (a: Answer) => (a.status === 200 ? (/callme-service:(\S+)/.exec(a.body)?.[1] ?? 'unknown') : `HTTP ${a.status}`);

function makeMesh(o: DemoOptions, root: string, screen: Screen): MeshDriver {
  const log = (line: string) => {
    if (o.verbose) screen.line(dim(`         [runtime] ${line}`));
  };
  const gatewayCertHosts = ['localhost', 'todolist.example.com', 'tsmesh.local', '*.tsmesh.local'];
  if (o.kind) {
    return new KindMeshDriver(root, { clusterName: 'tsmesh-demo', fieldManager: 'tsmesh-demo', who: '--kind', keepCluster: !!o.keepCluster, gatewayCertHosts, log: (l) => screen.event('kind', '', l) });
  }
  return new LocalMeshDriver(root, {
    hostPorts: { http: o.httpPort ?? (o.check ? 0 : 8080), https: o.httpsPort ?? (o.check ? 0 : 8443) },
    gatewayCertHosts,
    // Every proxy exports its spans (100 % sampled) to the dashboard's OTLP receiver on an address
    // of this machine the pods reach through the bridge.
    tracing: { port: 4318, samplingPercent: 100 },
    // 2 s scrapes: the dashboard's 15 s rate window follows the canary within seconds.
    prometheus: { port: 9090, scrapeIntervalSeconds: 2 },
    log,
  });
}

/**
 * The demo's loopback addresses: the gateway, the control plane (on 15014 unless `--check`, so
 * `tsmesh proxy-status` finds it), the gateway's and a sidecar's metrics, the mesh root as a file,
 * Prometheus and the traces receiver where the mesh has them.
 */
async function demoEndpoints(mesh: MeshDriver, o: DemoOptions): Promise<DemoEndpoints> {
  const cp = await mesh.forward('istio-system', { app: 'istiod' }, 15014, o.check ? 0 : 15014);
  const gw = await mesh.forward('istio-system', { istio: 'ingressgateway' }, 15020);
  const side = await mesh.forward('default', { app: 'todolist' }, 15020);
  const dir = mesh.runDir ? join(mesh.runDir, 'demo') : mkdtempSync(join(tmpdir(), 'tsmesh-demo-'));
  mkdirSync(dir, { recursive: true });
  const rootCaFile = join(dir, 'root-cert.pem');
  writeFileSync(rootCaFile, await mesh.rootCertPem());
  const https = mesh.gatewayHttps();
  const e: DemoEndpoints = {
    gatewayHttp: mesh.gatewayHttp(),
    gatewayHttps: `https://localhost:${https.port}`,
    httpsHost: 'localhost',
    controlPlane: cp.url,
    gatewayMetrics: gw.url,
    sidecarMetrics: side.url,
    sidecarPod: side.pod,
    rootCaFile,
  };
  const otlp = mesh.otlpReceiver?.() ?? `the ${mesh.name} mesh sends no traces here`;
  if (typeof otlp === 'object') e.otlp = otlp;
  else e.tracesMissing = otlp;
  const prom = mesh.prometheus ? await mesh.prometheus() : `the ${mesh.name} path does not deploy Prometheus yet`;
  if (typeof prom === 'string') e.prometheusMissing = `${prom}; the demo runs without it`;
  else e.prometheus = prom.url;
  return e;
}

/** Runs the demo; resolves with the exit code (interactive mode resolves after Ctrl-C and teardown). */
export async function runDemo(o: DemoOptions = {}): Promise<number> {
  const root = o.root ?? workspaceRoot();
  if (o.xds) {
    const tsx = join(root, 'node_modules/.bin/tsx');
    const r = spawnSync(existsSync(tsx) ? tsx : 'tsx', [join(root, 'tools/demo-xds.ts')], { stdio: 'inherit', cwd: root });
    return r.status ?? 1;
  }
  const screen = new Screen();
  const mesh = makeMesh(o, root, screen);
  const why = await mesh.unavailable();
  if (why) {
    screen.line(`tsmesh demo${o.kind ? ' --kind' : ''}: ${o.check && o.kind ? 'skipped: ' : ''}${why}`);
    return o.check && o.kind ? 0 : 1;
  }

  let dashboard: { url: string; close(): Promise<void> } | undefined;
  // Teardown on Ctrl-C / SIGTERM, at any point, exactly once.
  let tearingDown: Promise<number> | undefined;
  let stopWatching = () => {};
  let signals = 0;
  const teardown = async (why: string, ok: boolean): Promise<number> => {
    tearingDown ??= (async () => {
      stopWatching();
      screen.clearStatus();
      screen.line();
      const pods = (await mesh.snapshot().catch(() => undefined))?.pods.length ?? 0;
      screen.line(bold(`Tearing down (${why}): ${mesh.name === 'local' ? `${pods ? `${pods} pods (apps before their sidecars), then ` : ''}the network` : `the kind cluster`}…`));
      let left: string[];
      await dashboard?.close().catch(() => undefined);
      try {
        left = await mesh.down();
      } catch (err) {
        screen.line(red(`teardown failed: ${(err as Error).message}`));
        return 1;
      }
      if (left.length) {
        screen.line(red(`left behind: ${left.length} item(s):`));
        for (const l of left) screen.line(`  ${l}`);
        if (mesh.name === 'local') screen.line(`remove them with: node ${join(root, 'dist/infra/local/main.js')} cleanup`);
        return 1;
      }
      screen.line(green(mesh.name === 'local' ? 'Everything removed: no pod process, network namespace, veth, bridge or iptables rule is left.' : 'Everything removed.'));
      if (mesh.runDir) screen.line(dim(`Logs and config of the run are kept in ${mesh.runDir}`));
      return ok ? 0 : 1;
    })();
    return tearingDown;
  };
  let lastSignalAt = 0;
  const onSignal = (sig: string) => {
    // One Ctrl-C can arrive twice (from the terminal and relayed by a parent such as tsx or npm).
    if (Date.now() - lastSignalAt < 1500) return;
    lastSignalAt = Date.now();
    signals++;
    if (signals === 1) {
      void teardown(sig, true).then((code) => process.exit(code));
    } else if (signals === 2) {
      screen.line(yellow('Still tearing down; Ctrl-C again to quit at once (leftovers are then removed by the next run).'));
    } else {
      process.exit(130);
    }
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);

  const failures: string[] = [];
  const fail = (what: string) => {
    if (tearingDown) return;
    failures.push(what);
    screen.line(red(`  ✗ ${what}`));
  };

  try {
    screen.line(bold(`tsmesh demo: the whole mesh on ${mesh.name === 'local' ? 'the local runtime (pods in network namespaces on this machine)' : 'a kind cluster'}`));
    screen.line(dim('  control plane, CA, sidecar injector, ingress gateway, and the samples (todolist v1/v2, caller, callme v1/v2) from infra/k8s/base'));
    screen.line();
    const tracker = new ProgressTracker();
    let last: MeshSnapshot | undefined;
    const onSnapshot = (s: MeshSnapshot) => {
      if (tearingDown) return;
      last = s;
      for (const e of tracker.update(s)) screen.event(e.kind, e.subject, e.detail);
      screen.setStatus(statusLine(s));
    };
    try {
      await mesh.up({ progress: { snapshot: onSnapshot, note: (k, s, d) => void (tearingDown || screen.event(k, s, d)) }, timeoutMs: (o.timeout ?? 300) * 1000 });
    } catch (err) {
      if (tearingDown) return await tearingDown;
      screen.clearStatus();
      fail(`the mesh did not come up: ${(err as Error).message}`);
      const s = await mesh.snapshot().catch(() => last);
      for (const p of s?.pods.filter((x) => !x.ready) ?? []) {
        screen.line(`  ${p.key}:`);
        for (const l of await mesh.diagnose(p.key)) screen.line(dim(`    ${l}`));
      }
      return await teardown('start failed', false);
    }
    if (tearingDown) return await tearingDown;
    screen.clearStatus();
    if (last) screen.line(green(`  ✓ ${statusLine(last)}`));

    const e = await demoEndpoints(mesh, o);
    dashboard = await startDemoDashboard(e);
    await tour(e, o, screen, fail);
    if (o.gatewayApi) await gatewayApiTour(mesh, e, root, o, screen, fail);
    if (tearingDown) return await tearingDown;

    if (o.check) {
      await moveTo5050(mesh, e, root, o, screen, fail);
      if (dashboard) await checkDashboard(dashboard.url, screen, fail);
      screen.line();
      printSummary(e, mesh, root, screen);
      screen.line();
      screen.line(failures.length ? red(bold(`demo check failed: ${failures.length} problem(s)`)) : green(bold('demo check passed')));
      for (const f of failures) screen.line(red(`  ✗ ${f}`));
      return await teardown('--check done', failures.length === 0);
    }

    screen.line();
    printSummary(e, mesh, root, screen);
    screen.line();
    screen.line(bold('The mesh is running. Ctrl-C tears everything down.'));
    stopWatching = watchWhileRunning(mesh, screen, tracker);
    const code = await new Promise<number>((res) => {
      const wait = setInterval(() => {
        if (tearingDown) {
          clearInterval(wait);
          void tearingDown.then(res);
        }
      }, 200);
    });
    stopWatching();
    return code;
  } catch (err) {
    screen.clearStatus();
    fail((err as Error).message);
    return await teardown('error', false);
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
}

/** Requests through the gateway: the split, HTTPS with the mesh root, caller → callme; then the proxy status. */
async function tour(e: DemoEndpoints, o: DemoOptions, screen: Screen, fail: (what: string) => void): Promise<void> {
  screen.line();
  screen.line(bold('Through the ingress gateway'));
  // The gateway is ready before its routes and endpoints have all arrived: wait for a first 200.
  const until = Date.now() + 90_000;
  let first: Answer | undefined;
  let lastErr = '';
  while (Date.now() < until) {
    try {
      first = await get(`${e.gatewayHttp}/`, undefined, 5000);
      if (first.status === 200) break;
      lastErr = `HTTP ${first.status} ${first.body.slice(0, 120)}`;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await sleep(500);
  }
  if (first?.status !== 200) return fail(`the gateway did not answer GET / with 200 within 90 s (last: ${lastErr})`);

  const n = o.requests ?? 100;
  const split = await sample(`${e.gatewayHttp}/`, n, version, (a) => a.status === 200);
  screen.line(`  GET ${e.gatewayHttp}/ × ${n}, by the x-version header (VirtualService todolist: 90 % v1, 10 % v2):`);
  screen.line(formatTally(split));
  if (split.failures) fail(`${split.failures} of ${n} requests through the gateway failed`);
  const v2 = share(split, 'v2');
  if (!split.counts.v1 || !split.counts.v2) fail(`the split did not reach both versions (${JSON.stringify(split.counts)})`);
  else if (n >= 50 && (v2 < 2 || v2 > 25)) fail(`v2's share is ${v2.toFixed(0)} %, far from 10 %`);

  try {
    const ca = readFileSync(e.rootCaFile, 'utf8');
    const a = await get(`${e.gatewayHttps}/api/version`, { ca, servername: e.httpsHost });
    screen.line(`  GET ${e.gatewayHttps}/api/version over TLS, verified against the mesh root: HTTP ${a.status} ${a.body.trim().slice(0, 80)}`);
    if (a.cert) screen.line(dim(`    certificate ${a.cert.san || a.cert.subject}, issued by ${a.cert.issuer}, chain ${a.cert.authorized ? 'verified' : 'NOT verified'}`));
    if (a.status !== 200) fail(`HTTPS through the gateway answered ${a.status}`);
  } catch (err) {
    fail(`HTTPS through the gateway failed: ${(err as Error).message}`);
  }

  const calls = await sample(`${e.gatewayHttp}/caller/ping`, 20, callme, (a) => a.status === 200);
  const one = await get(`${e.gatewayHttp}/caller/ping`).catch((err: Error) => ({ status: 0, body: err.message }) as Answer);
  screen.line(`  GET ${e.gatewayHttp}/caller/ping × 20: caller calls callme-service inside the mesh over mTLS (VirtualService callme-service: 20 % v1, 80 % v2):`);
  screen.line(dim(`    "${one.body.trim().slice(0, 100)}"`));
  screen.line(formatTally(calls));
  if (calls.failures) fail(`${calls.failures} of 20 caller → callme requests failed`);

  for (const [who, url] of [['gateway', e.gatewayMetrics], [`sidecar of ${e.sidecarPod.split('/')[1]}`, e.sidecarMetrics]]) {
    try {
      const m = await get(`${url}/stats/prometheus`);
      const lines = m.body.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
      const total = lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      // How the requests a proxy reported were secured (mutual_tls between sidecars and the gateway).
      const security = new Map<string, number>();
      for (const l of lines) {
        const policy = /connection_security_policy="([^"]*)"/.exec(l)?.[1];
        if (policy && policy !== 'unknown') security.set(policy, (security.get(policy) ?? 0) + Number(l.split(' ').pop()));
      }
      const sec = [...security].map(([k, v]) => `${v} with connection_security_policy=${k}`).join(', ');
      screen.line(`  metrics of the ${who} (${url}/stats/prometheus): HTTP ${m.status}, istio_requests_total ${total} in ${lines.length} series${sec ? `; ${sec}` : ''}`);
      if (m.status !== 200) fail(`metrics of the ${who} answered ${m.status}`);
      else if (!lines.length) fail(`metrics of the ${who} have no istio_requests_total`);
    } catch (err) {
      fail(`metrics of the ${who}: ${(err as Error).message}`);
    }
  }

  screen.line();
  screen.line(bold('Proxy status (what the control plane knows of each proxy)'));
  let entries: ProxyStatusEntry[] = [];
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      entries = await getJson<ProxyStatusEntry[]>(e.controlPlane, '/debug/syncz');
    } catch (err) {
      fail(`proxy status: ${(err as Error).message}`);
      return;
    }
    const settled = entries.every((x) => Object.values(x.types).every((t) => t.state === 'SYNCED' || t.state === 'NACKED'));
    if (settled || Date.now() > deadline) break;
    await sleep(500);
  }
  for (const l of formatProxyStatus(entries).trimEnd().split('\n')) screen.line(`  ${l}`);
  const nacks = entries.filter((x) => Object.values(x.types).some((t) => t.state === 'NACKED'));
  if (nacks.length) fail(`${nacks.length} prox${nacks.length === 1 ? 'y' : 'ies'} NACKed config`);
}

/**
 * `--gateway-api`: the seeds' scenarios in Kubernetes Gateway API form (infra/k8s/gateway-api): the
 * deployed Gateway's 90/10 canary by an HTTPRoute, its HTTPS listener's certificateRef, caller →
 * callme 20/80 by a GAMMA HTTPRoute (with the base's VirtualService for callme set aside meanwhile),
 * and the status the control plane wrote back.
 */
async function gatewayApiTour(mesh: MeshDriver, e: DemoEndpoints, root: string, o: DemoOptions, screen: Screen, fail: (what: string) => void): Promise<void> {
  screen.line();
  screen.line(bold('Kubernetes Gateway API (infra/k8s/gateway-api)'));
  if (!mesh.gatewayApi) return fail(`--gateway-api is not available on ${mesh.name} yet (nothing deploys a Gateway there)`);
  let g: Awaited<ReturnType<NonNullable<MeshDriver['gatewayApi']>>>;
  try {
    g = await mesh.gatewayApi();
  } catch (err) {
    return fail(`the Gateway API samples did not come up: ${(err as Error).message}`);
  }
  screen.line(`  Gateway default/todolist-gateway (class istio, no spec.addresses): deployed as todolist-gateway-istio, answering on ${g.http}`);
  const until = Date.now() + 60_000;
  let first: Answer | undefined;
  while (Date.now() < until) {
    first = await get(`${g.http}/`, undefined, 3000).catch(() => undefined);
    if (first?.status === 200) break;
    await sleep(500);
  }
  if (first?.status !== 200) return fail(`the Gateway todolist-gateway did not answer within 60 s (last: ${first ? `HTTP ${first.status}` : 'no answer'})`);
  const n = o.requests ?? 100;
  const split = await sample(`${g.http}/`, n, version, (a) => a.status === 200);
  screen.line(`  GET ${g.http}/ × ${n}, by the x-version header (HTTPRoute todolist: 90 % Service todolist-v1, 10 % todolist-v2):`);
  screen.line(formatTally(split));
  if (split.failures) fail(`${split.failures} of ${n} requests through the Gateway failed`);
  if (!split.counts.v1 || !split.counts.v2) fail(`the HTTPRoute's split did not reach both versions (${JSON.stringify(split.counts)})`);
  try {
    const ca = readFileSync(e.rootCaFile, 'utf8');
    const a = await get(`https://${g.https.host}:${g.https.port}/`, { ca, servername: 'todolist.example.com' }, 10_000, 'todolist.example.com');
    screen.line(`  GET https://todolist.example.com/ (the HTTPS listener, certificateRef Secret todolist-gateway-cert), verified against the mesh root: HTTP ${a.status}`);
    if (a.cert) screen.line(dim(`    certificate ${a.cert.san || a.cert.subject}, issued by ${a.cert.issuer}, chain ${a.cert.authorized ? 'verified' : 'NOT verified'}`));
    if (a.status !== 200) fail(`HTTPS through the Gateway answered ${a.status}`);
  } catch (err) {
    fail(`HTTPS through the Gateway failed: ${(err as Error).message}`);
  }
  // The base's VirtualService for callme is older than the GAMMA route and would decide: set it aside.
  const vs = readFileSync(join(root, 'infra/k8s/base/samples/routing.yaml'), 'utf8').split(/^---$/m).find((d) => /^kind: VirtualService$/m.test(d) && /^ {2}name: callme-service$/m.test(d));
  if (vs) await mesh.delete(vs);
  await sleep(2000);
  const calls = await sample(`${e.gatewayHttp}/caller/ping`, 50, callme, (a) => a.status === 200);
  screen.line(`  GET ${e.gatewayHttp}/caller/ping × 50: caller → callme by the GAMMA HTTPRoute callme-split (parentRef Service callme-service: 20 % callme-service-v1, 80 % callme-service-v2), over mTLS:`);
  screen.line(formatTally(calls));
  if (calls.failures) fail(`${calls.failures} of 50 caller → callme requests failed under the GAMMA route`);
  if (vs) await mesh.apply(vs);
  const status = g.statusFile('Gateway', 'default', 'todolist-gateway');
  if (status) {
    const written = parseStatusFile(readFileSync(status, 'utf8'), status).find((s) => s.kind === 'KubernetesGateway');
    screen.line(`  Status written back by the control plane: ${status}`);
    screen.line(dim(`    ${written ? describeWrittenStatus(written) : 'no Gateway status in it'}`));
    screen.line(dim(`    every resource's status: node dist/apps/cli/main.js analyze ${g.configDir ?? '<config dir>'}`));
    if (!written || !(written.status.conditions as { type: string; status: string }[] | undefined)?.some((c) => c.type === 'Programmed' && c.status === 'True')) fail('the Gateway todolist-gateway is not Programmed in its written status');
  } else {
    fail('the control plane wrote no status for Gateway default/todolist-gateway');
  }
}

/** `--check`: applies tools/demo-todolist-50-50.yaml and shows the split moving, live. */
async function moveTo5050(mesh: MeshDriver, e: DemoEndpoints, root: string, o: DemoOptions, screen: Screen, fail: (what: string) => void): Promise<void> {
  const file = join(root, 'tools/demo-todolist-50-50.yaml');
  screen.line();
  screen.line(bold('A live canary move: tools/demo-todolist-50-50.yaml (todolist 50/50)'));
  const applied = await mesh.apply(readFileSync(file, 'utf8'));
  screen.line(`  applied ${applied.join(', ')}`);
  const start = Date.now();
  let t: Tally | undefined;
  while (Date.now() - start < 20_000) {
    t = await sample(`${e.gatewayHttp}/`, 40, version, (a) => a.status === 200);
    const v2 = share(t, 'v2');
    if (v2 >= 25 && v2 <= 75) break;
  }
  const took = ((Date.now() - start) / 1000).toFixed(1);
  const n = o.requests ?? 100;
  t = await sample(`${e.gatewayHttp}/`, n, version, (a) => a.status === 200);
  screen.line(`  GET ${e.gatewayHttp}/ × ${n} after the change (in effect within ${took} s):`);
  screen.line(formatTally(t));
  const v2 = share(t, 'v2');
  if (t.failures) fail(`${t.failures} of ${n} requests failed after the move to 50/50`);
  if (n >= 50 && (v2 < 30 || v2 > 70)) fail(`after the move to 50/50 v2's share is ${v2.toFixed(0)} %`);
}

/** Starts the web dashboard (`tsmesh dashboard`) over the demo's control plane and Prometheus, on 127.0.0.1:20001 (another port when taken). */
async function startDemoDashboard(e: DemoEndpoints): Promise<{ url: string; close(): Promise<void> } | undefined> {
  try {
    const { startDashboard } = await import('../dashboard/server');
    const d = await startDashboard({ port: (await portFree(20001)) ? 20001 : 0, controlPlane: e.controlPlane, prometheus: e.prometheus, otlp: e.otlp });
    e.dashboard = d.url;
    return d;
  } catch (err) {
    e.dashboardMissing = (err as Error).message;
    return undefined;
  }
}

/**
 * --check: the dashboard's API answers with a graph; the calls and traces of the requests just
 * sent appear once Prometheus has scraped twice and the proxies' span batches are exported, so it
 * waits up to 30 s for both before it reports what it sees.
 */
async function checkDashboard(url: string, screen: Screen, fail: (what: string) => void): Promise<void> {
  try {
    const until = Date.now() + 30_000;
    for (;;) {
      const r = await fetch(`${url}/api/overview`, { signal: AbortSignal.timeout(10_000) });
      const o = (await r.json()) as { graph?: { source: string; nodes: unknown[]; edges: { target: string }[] }; error?: string };
      if (!r.ok || !o.graph) return fail(`the dashboard's API answered HTTP ${r.status}: ${o.error ?? ''}`);
      const t = (await (await fetch(`${url}/api/traces`, { signal: AbortSignal.timeout(10_000) })).json()) as { traces: { services: string[] }[] };
      // the receiver keeps the newest traces, so the last requests (todolist's canary) fill it: count any trace joined across the gateway and a workload behind it
      const through = t.traces.filter((x) => x.services[0]?.startsWith('istio-ingressgateway') && x.services.length > 1).length;
      if ((o.graph.edges.length > 0 && through > 0) || Date.now() > until) {
        screen.line(`  dashboard ${url}/: ${o.graph.nodes.length} workloads, ${o.graph.edges.length} calls (from ${o.graph.source === 'prometheus' ? 'Prometheus' : "the proxies' own metrics"}); ${t.traces.length} traces received, ${through} joined from the gateway into the mesh`);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (err) {
    fail(`the dashboard at ${url} did not answer: ${(err as Error).message}`);
  }
}

function printSummary(e: DemoEndpoints, mesh: MeshDriver, root: string, screen: Screen): void {
  screen.line(bold('URLs'));
  for (const [k, v] of urlLines(e)) screen.line(`  ${k.padEnd(16)} ${v}`);
  screen.line();
  screen.line(bold('Try'));
  // The Node.js that runs the demo (24; the machine's own `node` may be older).
  const cli = `${process.execPath} ${join(root, 'dist/apps/cli/main.js')}`;
  const hint = mesh.applyHint(join(root, 'tools/demo-todolist-50-50.yaml'));
  for (const l of tryCommands(e, { cli, applyHint: hint, controlPlaneDefault: e.controlPlane === 'http://127.0.0.1:15014' })) screen.line(`  ${l}`);
  if (mesh.runDir) screen.line(dim(`  logs: ${join(mesh.runDir, 'logs')}/<namespace>_<pod>_<container>.log`));
}

/** While the demo runs: pod events, and YAML dropped into the apply directory (local runtime). */
function watchWhileRunning(mesh: MeshDriver, screen: Screen, tracker: ProgressTracker): () => void {
  const timer = setInterval(() => {
    void mesh.snapshot().then((s) => {
      for (const ev of tracker.update(s) as ProgressEvent[]) screen.event(ev.kind, ev.subject, ev.detail);
    }, () => undefined);
  }, 1000);
  let watcher: FSWatcher | undefined;
  const dir = mesh.applyDir;
  if (dir) {
    const seen = new Map<string, NodeJS.Timeout>();
    const applyFile = async (name: string) => {
      const file = resolve(dir, name);
      if (!/\.ya?ml$/.test(name) || !existsSync(file)) return;
      try {
        const objs = await mesh.apply(readFileSync(file, 'utf8'));
        screen.event('applied', basename(file), `${objs.join(', ')} (the control plane validates it; see tsmesh proxy-status)`);
      } catch (err) {
        screen.event('warning', basename(file), `not applied: ${(err as Error).message}`);
      }
    };
    watcher = watch(dir, (_ev, name) => {
      if (!name) return;
      clearTimeout(seen.get(name));
      seen.set(name, setTimeout(() => void applyFile(name), 300));
    });
  }
  return () => {
    clearInterval(timer);
    watcher?.close();
  };
}

/** Adds the demo's flags to a command (`tsmesh demo` and tools/demo.ts share them). */
export function addDemoOptions(cmd: Command): Command {
  const int = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
    return n;
  };
  return cmd
    .option('--check', 'bring the mesh up, make requests through the gateway, move the canary to 50/50, print the summary, tear down; exit 0 when all worked, 1 otherwise')
    .option('--kind', 'run on a kind cluster (needs kind and Docker) instead of the local runtime')
    .option('--xds', 'run the xDS interop demo instead (an ADS server configures a proxyless gRPC client)')
    .option('--http-port <port>', 'loopback port for the gateway port 80 (0: any free port; default 8080, any with --check)', int)
    .option('--https-port <port>', 'loopback port for the gateway port 443 (0: any free port; default 8443, any with --check)', int)
    .option('--timeout <seconds>', 'how long to wait for every pod to be ready', int, 300)
    .option('--requests <n>', 'requests through the gateway to show the split', int, 100)
    .option('--keep-cluster', 'with --kind: keep the kind cluster after the demo')
    .option('--gateway-api', 'also show the Kubernetes Gateway API flavour: a deployed Gateway, HTTPRoute canary, HTTPS certificateRef, GAMMA route, status')
    .option('-v, --verbose', "print every line of the runtime's log");
}
