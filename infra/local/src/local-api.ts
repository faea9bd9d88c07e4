/**
 * The running runtime's local API, for `tsmesh local get|describe|logs|exec|apply|delete|rollout
 * status`: HTTP over a unix socket (`<runDir>/api.sock`, owner-only), announced in a state file
 * `/run/tsmesh-local/<run id>.json` (`{ id, pid, runDir, socket }`) removed on stop.
 *
 * GET  /v1/objects?kind=&namespace=        → objects (JSON array)
 * GET  /v1/object?kind=&key=               → one object, 404 naming it when absent
 * GET  /v1/describe?kind=&key=             → text: fields, containers (state, back-off, last log lines), conditions, events
 * GET  /v1/logs?pod=&container=&tail=      → the container's log (text)
 * POST /v1/exec   { pod, argv, uid? }      → { code, stdout, stderr }
 * POST /v1/apply  (YAML)                   → { refused: [{ kind, key, reason }] }
 * POST /v1/delete (YAML) or ?kind=&key=    → { deleted }
 * GET  /v1/rollout?key=&timeoutMs=         → { complete: true }, or 504 with the status
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backoff } from './container';
import { eventsFor } from './events';
import { keyOf, type KubeObject } from './kube';
import type { LocalPod } from './pod';
import type { ObjectStore } from './store';

/** Where running runtimes announce their API. */
export const STATE_DIR = '/run/tsmesh-local';

/** What a state file holds. */
export interface RuntimeState {
  id: string;
  pid: number;
  runDir: string;
  socket: string;
}

/** What the API serves from. */
export interface LocalApiHost {
  id: string;
  runDir: string;
  store: ObjectStore;
  backoff: Backoff;
  pod(key: string): LocalPod | undefined;
  logPath(namespace: string, pod: string, container: string): string;
  apply(yaml: string): Promise<{ kind: string; key: string; reason: string }[]>;
  delete(yaml: string | undefined, kind?: string, key?: string): Promise<void>;
  exec(pod: string, argv: string[], uid?: number): Promise<{ code: number | null; stdout: string; stderr: string }>;
  waitRollout(key: string, timeoutMs: number): Promise<void>;
}

/** The last `n` lines of a file ('' when it does not exist). */
export function tailLines(path: string, n: number): string {
  if (!existsSync(path)) return '';
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.slice(-n).join('\n');
}

/** The live runtimes announced in {@link STATE_DIR} (dead pids skipped), newest first. */
export function liveRuntimes(dir = STATE_DIR): RuntimeState[] {
  if (!existsSync(dir)) return [];
  const out: RuntimeState[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    try {
      const st = JSON.parse(readFileSync(join(dir, f), 'utf8')) as RuntimeState;
      process.kill(st.pid, 0);
      out.push(st);
    } catch {
      // not running any more (or unreadable)
    }
  }
  return out.reverse();
}

function age(ts: unknown): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(String(ts))) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function labelsLine(l: Record<string, string> | undefined): string {
  const e = Object.entries(l ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join('\n               ') : '<none>';
}

/** `kubectl describe`-style text for an object: its fields, for a pod its containers with back-off and last log lines, and its events. */
export function describe(host: LocalApiHost, o: KubeObject): string {
  const out: string[] = [];
  const ns = o.metadata.namespace;
  out.push(`Name:          ${o.metadata.name}`);
  if (ns) out.push(`Namespace:     ${ns}`);
  out.push(`Kind:          ${o.kind}`);
  out.push(`Labels:        ${labelsLine(o.metadata.labels)}`);
  const ctl = o.metadata.ownerReferences?.find((r) => r.controller);
  if (ctl) out.push(`Controlled By: ${ctl.kind}/${ctl.name}`);
  if (o.metadata.deletionTimestamp) out.push(`Status:        Terminating (since ${String(o.metadata.deletionTimestamp)})`);
  if (o.kind === 'Pod') {
    const st = (o.status ?? {}) as { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
    if (!o.metadata.deletionTimestamp) out.push(`Status:        ${st.phase ?? 'Pending'}`);
    out.push(`IP:            ${st.podIP ?? '<none>'}`);
    out.push(`Node:          ${(o.spec as { nodeName?: string }).nodeName ?? '<none>'}`);
    const lp = host.pod(keyOf(o));
    const specs = [...((o.spec as { initContainers?: { name: string; restartPolicy?: string }[] }).initContainers ?? []).map((c) => ({ ...c, init: true })), ...(o.spec as { containers: { name: string }[] }).containers.map((c) => ({ ...c, init: false, restartPolicy: undefined }))];
    out.push(specs.some((c) => c.init) ? 'Containers (init and native sidecars first):' : 'Containers:');
    for (const c of specs) {
      const proc = lp?.container(c.name);
      const status = lp?.containerStatuses().find((x) => x.name === c.name);
      out.push(`  ${c.name}:${c.init ? (c.restartPolicy === 'Always' ? ' (native sidecar)' : ' (init)') : ''}`);
      if (!proc) {
        out.push('    State:          Waiting (not started)');
      } else if (proc.state === 'waiting' && proc.restartCount > 0) {
        const delay = Math.min(host.backoff.maxMs, host.backoff.initialMs * 2 ** Math.min(proc.restartCount - 1, 16));
        out.push('    State:          Waiting');
        out.push('      Reason:       CrashLoopBackOff');
        out.push(`      Message:      back-off ${Math.round(delay / 100) / 10}s restarting failed container=${c.name} pod=${o.metadata.name}`);
        out.push(`    Last State:     Terminated (exit code ${proc.lastExitCode ?? 'unknown'})`);
      } else if (proc.state === 'terminated') {
        out.push(`    State:          Terminated (exit code ${proc.lastExitCode ?? 'unknown'})`);
      } else {
        out.push(`    State:          ${proc.state === 'running' ? 'Running' : 'Waiting'}${proc.pid ? ` (pid ${proc.pid})` : ''}`);
        if (proc.restartCount > 0) out.push(`    Last State:     Terminated (exit code ${proc.lastExitCode ?? 'unknown'})`);
      }
      out.push(`    Ready:          ${status?.ready ? 'True' : 'False'}`);
      out.push(`    Restart Count:  ${proc?.restartCount ?? 0}`);
      const tail = tailLines(host.logPath(ns ?? 'default', o.metadata.name ?? '', c.name), 5);
      if (tail) out.push('    Last log lines:', ...tail.split('\n').map((l) => `      ${l}`));
    }
    out.push('Conditions:', ...(st.conditions ?? []).map((c) => `  ${c.type.padEnd(16)}${c.status}`));
  } else if (o.kind === 'Deployment' || o.kind === 'ReplicaSet' || o.kind === 'StatefulSet' || o.kind === 'Job') {
    const spec = o.spec as { replicas?: number; strategy?: { type?: string; rollingUpdate?: { maxSurge?: unknown; maxUnavailable?: unknown } } };
    if (spec.replicas !== undefined) out.push(`Replicas:      ${spec.replicas} desired`);
    if (spec.strategy) out.push(`Strategy:      ${spec.strategy.type ?? 'RollingUpdate'}${spec.strategy.rollingUpdate ? ` (maxSurge ${String(spec.strategy.rollingUpdate.maxSurge ?? '25%')}, maxUnavailable ${String(spec.strategy.rollingUpdate.maxUnavailable ?? '25%')})` : ''}`);
    const st = (o.status ?? {}) as Record<string, unknown> & { conditions?: { type: string; status: string; reason?: string }[] };
    const counts = Object.entries(st).filter(([k, v]) => k !== 'conditions' && typeof v !== 'object').map(([k, v]) => `${k}=${String(v)}`);
    if (counts.length) out.push(`Status:        ${counts.join(' ')}`);
    if (st.conditions?.length) out.push('Conditions:', ...st.conditions.map((c) => `  ${c.type.padEnd(16)}${c.status.padEnd(6)}${c.reason ?? ''}`));
    if (o.kind === 'Deployment') {
      const sets = host.store.list('ReplicaSet', ns).filter((rs) => rs.metadata.ownerReferences?.some((r) => r.kind === 'Deployment' && r.name === o.metadata.name));
      out.push('ReplicaSets:', ...sets.map((rs) => `  ${rs.metadata.name} (${(rs.spec as { replicas: number }).replicas} replicas)`));
    }
  } else {
    out.push(`Spec:          ${JSON.stringify(o.spec ?? o.data ?? {}).slice(0, 400)}`);
  }
  const events = eventsFor(host.store, o);
  out.push(events.length ? 'Events:' : 'Events:        <none>');
  if (events.length) {
    out.push(`  ${'Type'.padEnd(8)} ${'Reason'.padEnd(18)} ${'Age'.padEnd(6)} ${'Count'.padEnd(5)} Message`);
    for (const e of events) out.push(`  ${String(e.type).padEnd(8)} ${String(e.reason).padEnd(18)} ${age(e.lastTimestamp).padEnd(6)} ${String(e.count).padEnd(5)} ${String(e.message)}`);
  }
  return `${out.join('\n')}\n`;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The local API server. */
export class LocalApi {
  private server: Server | undefined;
  readonly socket: string;
  readonly stateFile: string;

  constructor(private readonly host: LocalApiHost, stateDir = STATE_DIR) {
    this.socket = join(host.runDir, 'api.sock');
    this.stateFile = join(stateDir, `${host.id}.json`);
  }

  /** Listens on the socket and writes the state file. */
  async start(): Promise<void> {
    rmSync(this.socket, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socket, () => resolve());
    });
    chmodSync(this.socket, 0o600);
    mkdirSync(join(this.stateFile, '..'), { recursive: true, mode: 0o755 });
    const st: RuntimeState = { id: this.host.id, pid: process.pid, runDir: this.host.runDir, socket: this.socket };
    writeFileSync(this.stateFile, `${JSON.stringify(st)}\n`, { mode: 0o644 });
  }

  /** Closes the socket and removes the state file. */
  async stop(): Promise<void> {
    rmSync(this.stateFile, { force: true });
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
    rmSync(this.socket, { force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const q = (k: string) => url.searchParams.get(k) ?? undefined;
    const json = (code: number, v: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(v)}\n`);
    };
    const text = (code: number, t: string) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(t);
    };
    try {
      const { store } = this.host;
      const find = () => {
        const kind = q('kind');
        const key = q('key');
        if (!kind || !key) throw Object.assign(new Error('kind and key are required'), { status: 400 });
        const o = store.get(kind, key);
        if (!o) throw Object.assign(new Error(`${kind} ${key} not found`), { status: 404 });
        return o;
      };
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /v1/objects': {
          const kind = q('kind');
          if (!kind) return json(400, { error: 'kind is required' });
          return json(200, store.list(kind, q('namespace')));
        }
        case 'GET /v1/object':
          return json(200, find());
        case 'GET /v1/describe':
          return text(200, describe(this.host, find()));
        case 'GET /v1/logs': {
          const pod = q('pod') ?? '';
          const o = store.get('Pod', pod);
          const [ns, name] = pod.split('/');
          const containers = o ? [...((o.spec as { initContainers?: { name: string }[] }).initContainers ?? []), ...(o.spec as { containers: { name: string }[] }).containers].map((c) => c.name) : [];
          const container = q('container') ?? (o as { spec?: { containers?: { name: string }[] } } | undefined)?.spec?.containers?.[0]?.name;
          if (!container) return json(404, { error: `pod ${pod} not found` });
          const path = this.host.logPath(ns, name, container);
          if (!existsSync(path)) return json(404, { error: o ? `pod ${pod} has no log for container ${container} (containers: ${containers.join(', ')})` : `pod ${pod} not found` });
          const tail = q('tail');
          return text(200, tail ? `${tailLines(path, Number(tail))}\n` : readFileSync(path, 'utf8'));
        }
        case 'POST /v1/exec': {
          const r = JSON.parse(await body(req)) as { pod: string; argv: string[]; uid?: number };
          if (!this.host.pod(r.pod)) return json(404, { error: `pod ${r.pod} not found` });
          return json(200, await this.host.exec(r.pod, r.argv, r.uid));
        }
        case 'POST /v1/apply':
          return json(200, { refused: await this.host.apply(await body(req)) });
        case 'POST /v1/delete': {
          const b = await body(req);
          await this.host.delete(b || undefined, q('kind'), q('key'));
          return json(200, { deleted: true });
        }
        case 'GET /v1/rollout': {
          const key = q('key') ?? '';
          if (!store.get('Deployment', key)) return json(404, { error: `Deployment ${key} not found` });
          try {
            await this.host.waitRollout(key, Number(q('timeoutMs') ?? 120_000));
            return json(200, { complete: true, status: store.get('Deployment', key)?.status });
          } catch (err) {
            return json(504, { error: (err as Error).message });
          }
        }
        default:
          return json(404, { error: `no such endpoint ${req.method} ${url.pathname}` });
      }
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      json(status, { error: (err as Error).message });
    }
  }
}
