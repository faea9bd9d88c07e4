/**
 * `tsmesh local get|describe|logs|exec|apply|delete|rollout status`: kubectl's verbs against the
 * running local runtime, over its local API (HTTP on the unix socket its state file in
 * /run/tsmesh-local names; `--socket` or `TSMESH_LOCAL_SOCKET` to pick one).
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { liveRuntimes, STATE_DIR, type KubeObject } from '@tsmesh/local-runtime';

/** Where the CLI writes. */
export interface LocalIo {
  out: (s: string) => void;
  err: (s: string) => void;
  exit: (code: number) => void;
}

/** Kind names and short names kubectl accepts, to the kind. */
const KINDS: Record<string, string> = {
  po: 'Pod', pod: 'Pod', pods: 'Pod',
  deploy: 'Deployment', deployment: 'Deployment', deployments: 'Deployment',
  rs: 'ReplicaSet', replicaset: 'ReplicaSet', replicasets: 'ReplicaSet',
  sts: 'StatefulSet', statefulset: 'StatefulSet', statefulsets: 'StatefulSet',
  job: 'Job', jobs: 'Job', cj: 'CronJob', cronjob: 'CronJob', cronjobs: 'CronJob',
  svc: 'Service', service: 'Service', services: 'Service',
  ep: 'EndpointSlice', endpointslice: 'EndpointSlice', endpointslices: 'EndpointSlice',
  ns: 'Namespace', namespace: 'Namespace', namespaces: 'Namespace',
  cm: 'ConfigMap', configmap: 'ConfigMap', configmaps: 'ConfigMap',
  secret: 'Secret', secrets: 'Secret', sa: 'ServiceAccount', serviceaccount: 'ServiceAccount', serviceaccounts: 'ServiceAccount',
  ev: 'Event', event: 'Event', events: 'Event',
  vs: 'VirtualService', virtualservice: 'VirtualService', virtualservices: 'VirtualService',
  dr: 'DestinationRule', destinationrule: 'DestinationRule', destinationrules: 'DestinationRule',
  gw: 'Gateway', gateway: 'Gateway', gateways: 'Gateway',
  pa: 'PeerAuthentication', peerauthentication: 'PeerAuthentication', peerauthentications: 'PeerAuthentication',
  ap: 'AuthorizationPolicy', authorizationpolicy: 'AuthorizationPolicy', authorizationpolicies: 'AuthorizationPolicy',
};

const CLUSTER_SCOPED = new Set(['Namespace']);

/** The kind for a kubectl resource name (`po`, `deploy`, `Deployment`…); throws naming it when unknown. */
export function kindOf(resource: string): string {
  const k = KINDS[resource.toLowerCase()] ?? Object.values(KINDS).find((v) => v.toLowerCase() === resource.toLowerCase());
  if (!k) throw new Error(`error: the server doesn't have a resource type "${resource}"`);
  return k;
}

/** The socket of the runtime to talk to. */
export function findSocket(explicit?: string, stateDir = process.env.TSMESH_LOCAL_STATE_DIR || STATE_DIR): string {
  if (explicit) return explicit;
  if (process.env.TSMESH_LOCAL_SOCKET) return process.env.TSMESH_LOCAL_SOCKET;
  const live = liveRuntimes(stateDir);
  if (!live.length) throw new Error(`no local runtime is running (none announced in ${stateDir}); start one with \`tsmesh demo\` or \`node dist/infra/local/main.js up\``);
  return live[0].socket;
}

/** One request to the local API; resolves with the status and body. */
export function call(socket: string, method: 'GET' | 'POST', path: string, body?: string, timeoutMs = 130_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: body === undefined ? {} : { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`the local runtime did not answer ${path} within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error(`the local runtime at ${socket} is not running (${err.code})`) : err));
    req.end(body);
  });
}

async function ok(r: Promise<{ status: number; body: string }>): Promise<string> {
  const x = await r;
  if (x.status >= 400) {
    let msg = x.body;
    try {
      msg = (JSON.parse(x.body) as { error?: string }).error ?? x.body;
    } catch {
      // text
    }
    throw new Error(`Error from the local runtime: ${msg.trim()}`);
  }
  return x.body;
}

function podAge(o: KubeObject): string {
  const ts = o.metadata.creationTimestamp;
  if (!ts) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/** `kubectl get` columns for a list of objects. */
export function formatTable(kind: string, objs: KubeObject[], allNamespaces: boolean): string {
  if (!objs.length) return 'No resources found.\n';
  const rows: string[][] = [];
  const ns = (o: KubeObject) => (allNamespaces && !CLUSTER_SCOPED.has(kind) ? [o.metadata.namespace ?? ''] : []);
  const head = [...(allNamespaces && !CLUSTER_SCOPED.has(kind) ? ['NAMESPACE'] : []), 'NAME'];
  switch (kind) {
    case 'Pod':
      rows.push([...head, 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP']);
      for (const o of objs) {
        const st = (o.status ?? {}) as { phase?: string; podIP?: string; containerStatuses?: { ready: boolean; restartCount: number; state: string }[] };
        const cs = st.containerStatuses ?? [];
        const crash = cs.some((c) => c.state === 'waiting' && c.restartCount > 0);
        const status = o.metadata.deletionTimestamp ? 'Terminating' : crash ? 'CrashLoopBackOff' : st.phase ?? 'Pending';
        rows.push([...ns(o), o.metadata.name ?? '', `${cs.filter((c) => c.ready).length}/${cs.length}`, status, String(cs.reduce((n, c) => n + c.restartCount, 0)), podAge(o), st.podIP ?? '<none>']);
      }
      break;
    case 'Deployment':
      rows.push([...head, 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
      for (const o of objs) {
        const st = (o.status ?? {}) as { readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
        rows.push([...ns(o), o.metadata.name ?? '', `${st.readyReplicas ?? 0}/${(o.spec as { replicas?: number }).replicas ?? 1}`, String(st.updatedReplicas ?? 0), String(st.availableReplicas ?? 0), podAge(o)]);
      }
      break;
    case 'ReplicaSet':
      rows.push([...head, 'DESIRED', 'READY', 'AGE']);
      for (const o of objs) rows.push([...ns(o), o.metadata.name ?? '', String((o.spec as { replicas?: number }).replicas ?? 0), String((o.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0), podAge(o)]);
      break;
    case 'Service':
      rows.push([...head, 'CLUSTER-IP', 'PORTS', 'AGE']);
      for (const o of objs) {
        const spec = o.spec as { clusterIP?: string; ports?: { port: number; protocol?: string }[] };
        rows.push([...ns(o), o.metadata.name ?? '', spec.clusterIP ?? '', (spec.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '<none>', podAge(o)]);
      }
      break;
    case 'Event':
      rows.push([...head.slice(0, -1), 'LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
      for (const o of objs) {
        const io = o.involvedObject as { kind: string; name: string };
        rows.push([...ns(o), podAge({ ...o, metadata: { ...o.metadata, creationTimestamp: String(o.lastTimestamp) } }), String(o.type), String(o.reason), `${io.kind.toLowerCase()}/${io.name}`, String(o.message)]);
      }
      break;
    default:
      rows.push([...head, 'AGE']);
      for (const o of objs) rows.push([...ns(o), o.metadata.name ?? '', podAge(o)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd()).join('\n') + '\n';
}

function keyFor(kind: string, name: string, namespace: string): string {
  return CLUSTER_SCOPED.has(kind) ? name : `${namespace}/${name}`;
}

/** Reads `-f` files (`-` for stdin). */
function readManifests(files: string[]): string {
  return files.map((f) => readFileSync(f === '-' ? 0 : f, 'utf8')).join('\n---\n');
}

/** Adds `tsmesh local …` to the program. */
export function addLocalCommand(program: Command, io: LocalIo): void {
  const local = program.command('local').description('kubectl-like access to the running local runtime: get, describe, logs, exec, apply, delete, rollout status')
    .option('--socket <path>', 'the runtime\'s local API socket (default: the live runtime announced in /run/tsmesh-local, or TSMESH_LOCAL_SOCKET)');
  const run = (fn: (socket: string) => Promise<void>) => async () => {
    try {
      await fn(findSocket(local.opts().socket as string | undefined));
    } catch (err) {
      io.err(`${(err as Error).message}\n`);
      io.exit(1);
    }
  };
  const nsOpt = (c: Command) => c.option('-n, --namespace <ns>', 'namespace', 'default');

  nsOpt(local.command('get').description('list objects of a kind (or one by name), as kubectl get')
    .argument('<resource>', 'pods, deploy, rs, sts, jobs, svc, events, … or kind/name')
    .argument('[name]', 'one object')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-o, --output <format>', 'table (default), json, yaml or name'))
    .action((resource: string, name: string | undefined, o: { namespace: string; allNamespaces?: boolean; output?: string }) => run(async (socket) => {
      const [res, slashName] = resource.includes('/') ? resource.split('/') : [resource, name];
      const kind = kindOf(res);
      let objs: KubeObject[];
      if (slashName) objs = [JSON.parse(await ok(call(socket, 'GET', `/v1/object?kind=${kind}&key=${encodeURIComponent(keyFor(kind, slashName, o.namespace))}`))) as KubeObject];
      else objs = JSON.parse(await ok(call(socket, 'GET', `/v1/objects?kind=${kind}${o.allNamespaces || CLUSTER_SCOPED.has(kind) ? '' : `&namespace=${encodeURIComponent(o.namespace)}`}`))) as KubeObject[];
      objs.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
      if (o.output === 'json') io.out(`${JSON.stringify(slashName ? objs[0] : { apiVersion: 'v1', kind: 'List', items: objs }, null, 2)}\n`);
      else if (o.output === 'yaml') io.out((await import('yaml')).stringify(slashName ? objs[0] : { apiVersion: 'v1', kind: 'List', items: objs }));
      else if (o.output === 'name') io.out(objs.map((x) => `${kind.toLowerCase()}/${x.metadata.name}\n`).join(''));
      else io.out(formatTable(kind, objs, !!o.allNamespaces));
    })());

  nsOpt(local.command('describe').description('an object with its events; for a pod its containers with state, back-off and last log lines')
    .argument('<resource>', 'kind or kind/name').argument('[name]'))
    .action((resource: string, name: string | undefined, o: { namespace: string }) => run(async (socket) => {
      const [res, n] = resource.includes('/') ? resource.split('/') : [resource, name];
      if (!n) throw new Error('error: you must specify the name of the object to describe');
      const kind = kindOf(res);
      io.out(await ok(call(socket, 'GET', `/v1/describe?kind=${kind}&key=${encodeURIComponent(keyFor(kind, n, o.namespace))}`)));
    })());

  nsOpt(local.command('logs').description('a container\'s log').argument('<pod>')
    .option('-c, --container <name>', 'container (default: the first app container)')
    .option('--tail <n>', 'last n lines'))
    .action((pod: string, o: { namespace: string; container?: string; tail?: string }) => run(async (socket) => {
      const p = pod.replace(/^(po|pod|pods)\//, '');
      const qs = new URLSearchParams({ pod: `${o.namespace}/${p}`, ...(o.container ? { container: o.container } : {}), ...(o.tail ? { tail: o.tail } : {}) });
      io.out(await ok(call(socket, 'GET', `/v1/logs?${qs}`)));
    })());

  nsOpt(local.command('exec').description('run a command in a pod\'s network namespace (as `kubectl exec`; its sidecar captures it)')
    .argument('<pod>').argument('<command...>', 'after --')
    .option('--uid <uid>', 'user id (1337 is not captured)', (v) => Number(v)))
    .action((pod: string, command: string[], o: { namespace: string; uid?: number }) => run(async (socket) => {
      const r = JSON.parse(await ok(call(socket, 'POST', '/v1/exec', JSON.stringify({ pod: `${o.namespace}/${pod.replace(/^(po|pod|pods)\//, '')}`, argv: command, uid: o.uid })))) as { code: number | null; stdout: string; stderr: string };
      io.out(r.stdout);
      if (r.stderr) io.err(r.stderr);
      io.exit(r.code ?? 1);
    })());

  local.command('apply').description('create or update objects from files (`-` for stdin)')
    .requiredOption('-f, --filename <files...>', 'YAML files')
    .action((o: { filename: string[] }) => run(async (socket) => {
      const r = JSON.parse(await ok(call(socket, 'POST', '/v1/apply', readManifests(o.filename)))) as { refused: { kind: string; key: string; reason: string }[] };
      for (const x of r.refused) io.err(`refused ${x.kind} ${x.key}: ${x.reason}\n`);
      io.out(`applied${r.refused.length ? `, ${r.refused.length} refused` : ''}\n`);
      if (r.refused.length) io.exit(1);
    })());

  nsOpt(local.command('delete').description('delete objects from files, or one by kind and name (pods terminate gracefully)')
    .argument('[resource]').argument('[name]')
    .option('-f, --filename <files...>', 'YAML files'))
    .action((resource: string | undefined, name: string | undefined, o: { namespace: string; filename?: string[] }) => run(async (socket) => {
      if (o.filename?.length) {
        await ok(call(socket, 'POST', '/v1/delete', readManifests(o.filename)));
        io.out('deleted\n');
        return;
      }
      const [res, n] = resource?.includes('/') ? resource.split('/') : [resource, name];
      if (!res || !n) throw new Error('error: delete needs -f <file> or <kind> <name>');
      const kind = kindOf(res);
      await ok(call(socket, 'POST', `/v1/delete?kind=${kind}&key=${encodeURIComponent(keyFor(kind, n, o.namespace))}`, ''));
      io.out(`${kind.toLowerCase()} "${n}" deleted\n`);
    })());

  const rollout = local.command('rollout').description('rollouts');
  nsOpt(rollout.command('status').description('wait until a Deployment\'s rollout is complete').argument('<deployment>', 'deployment/<name> or <name>')
    .option('--timeout <seconds>', 'give up after', (v) => Number(v), 120))
    .action((dep: string, o: { namespace: string; timeout: number }) => run(async (socket) => {
      const n = dep.replace(/^(deploy|deployment|deployments)\//, '');
      await ok(call(socket, 'GET', `/v1/rollout?key=${encodeURIComponent(`${o.namespace}/${n}`)}&timeoutMs=${o.timeout * 1000}`, undefined, o.timeout * 1000 + 10_000));
      io.out(`deployment "${n}" successfully rolled out\n`);
    })());
}
