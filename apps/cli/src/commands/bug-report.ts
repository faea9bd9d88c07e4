/**
 * `tsmesh bug-report`: everything needed to look at a mesh afterwards, in one tar.gz (node-tar):
 *
 *   versions.json                     CLI, Node.js, OS, and the build/version lines of each component's metrics
 *   status/                           the control plane's proxy status, pushes, config issues, registry, metrics
 *   config/configz.json, config/<Kind>/<ns>.<name>.yaml   the accepted config (Secrets without data)
 *   proxies/<ns>/<pod>/               each proxy's own admin: config_dump.json (with EDS), clusters.json,
 *                                     stats.txt, logging.txt; and control-plane-config-dump.json
 *   logs/<ns>/<pod>/<container>.log   container logs (the local runtime's run directory, or kubectl logs), last 2 MiB each
 *   problems.txt                      what could not be collected, and why
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readSync, readdirSync, rmSync, statSync, writeFileSync, closeSync } from 'node:fs';
import { arch, platform, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { create } from 'tar';
import { stringify } from 'yaml';
import { getJson, type ProxyStatusEntry } from './proxy-status';
import { fetchText, forwardPodPort, type KubeObjectView } from './pod-access';
import { ADMIN_PORT } from './proxy-config-command';

/** The most of each log file kept (its end). */
export const LOG_TAIL_BYTES = 2 * 1024 * 1024;

/** What `bugReport` needs. */
export interface BugReportOptions {
  controlPlane: string;
  output: string;
  /** The local runtime's run directory (container logs); found from the pods' log files otherwise. */
  runDir?: string;
  context?: string;
  /** Read each proxy's own admin (default true). */
  proxies?: boolean;
  log?: (line: string) => void;
}

/** What was written. */
export interface BugReport {
  path: string;
  files: string[];
  bytes: number;
  problems: string[];
}

const CLI_VERSION = '0.1.0';

function tail(file: string, max = LOG_TAIL_BYTES): Buffer {
  const size = statSync(file).size;
  const start = Math.max(0, size - max);
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    return start > 0 ? Buffer.concat([Buffer.from(`[… first ${start} bytes left out]\n`), buf]) : buf;
  } finally {
    closeSync(fd);
  }
}

/** The local runtime's run directory holding these pods' logs (the newest, when several runs left some). */
export function findRunDir(pods: { namespace: string; name: string }[], roots = [tmpdir(), '/tmp']): string | undefined {
  const candidates = new Set<string>();
  for (const root of new Set(roots)) {
    let entries: string[] = [];
    try {
      entries = readdirSync(root).filter((d) => d.startsWith('tsmesh-local-'));
    } catch {
      continue;
    }
    for (const d of entries) candidates.add(join(root, d));
  }
  const hits = [...candidates].filter((dir) => {
    const logs = join(dir, 'logs');
    if (!existsSync(logs)) return false;
    const names = readdirSync(logs);
    return pods.some((p) => names.some((n) => n.startsWith(`${p.namespace}_${p.name}_`)));
  });
  hits.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return hits[0];
}

/** Component version lines of a Prometheus text (`*_build_info`, `istio_build`, `process_*start_time*`, `nodejs_version_info`). */
function versionLines(metrics: string): string[] {
  return metrics.split('\n').filter((l) => /^(istio_build|[a-z_]*build_info|nodejs_version_info)\b/.test(l));
}

/** Collects the report and writes the archive; never fails for one part that cannot be read (it goes to problems.txt). */
export async function bugReport(o: BugReportOptions): Promise<BugReport> {
  const log = o.log ?? (() => {});
  const stage = mkdtempSync(join(tmpdir(), 'tsmesh-bug-report-'));
  const root = join(stage, 'bug-report');
  const files: string[] = [];
  const problems: string[] = [];
  const put = (rel: string, body: string | Buffer) => {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, body);
    files.push(rel);
  };
  const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
      return undefined;
    }
  };

  try {
    log(`control plane ${o.controlPlane}`);
    const cpText = (path: string) => fetchText(o.controlPlane, path);
    const syncz = await attempt('control plane /debug/syncz', () => getJson<ProxyStatusEntry[]>(o.controlPlane, '/debug/syncz'));
    if (syncz) put('status/proxy-status.json', json(syncz));
    for (const [path, file] of [['/debug/push_status', 'status/push-status.json'], ['/debug/config_issues', 'status/config-issues.json'], ['/debug/registryz', 'status/registryz.json']] as const) {
      const v = await attempt(`control plane ${path}`, () => getJson<unknown>(o.controlPlane, path));
      if (v !== undefined) put(file, json(v));
    }
    const metrics = await attempt('control plane /metrics', () => cpText('/metrics'));
    if (metrics !== undefined) put('status/control-plane-metrics.txt', metrics);

    const configz = await attempt('control plane /debug/configz', () => getJson<KubeObjectView[]>(o.controlPlane, '/debug/configz'));
    if (configz) {
      put('config/configz.json', json(configz));
      for (const obj of configz) put(`config/${obj.kind}/${obj.metadata.namespace ?? '_cluster'}.${obj.metadata.name}.yaml`, stringify(obj));
    }

    const versions: Record<string, unknown> = {
      tsmesh: CLI_VERSION, node: process.version, os: `${platform()} ${release()} ${arch()}`, collectedAt: new Date().toISOString(),
      controlPlane: metrics !== undefined ? versionLines(metrics) : 'unreachable',
    };

    const proxies = syncz ?? [];
    if (o.proxies !== false) {
      for (const p of proxies) {
        if (!p.pod || !p.namespace) continue;
        const dir = `proxies/${p.namespace}/${p.pod}`;
        log(`proxy ${p.pod}.${p.namespace}`);
        const cpDump = await attempt(`${p.pod}.${p.namespace}: control plane /debug/config_dump`, () => getJson<unknown>(o.controlPlane, `/debug/config_dump?proxyID=${encodeURIComponent(p.proxy)}`));
        if (cpDump) put(`${dir}/control-plane-config-dump.json`, json(cpDump));
        const f = await attempt(`${p.pod}.${p.namespace}: port-forward to the admin (${ADMIN_PORT})`, () => forwardPodPort({ name: p.pod!, namespace: p.namespace!, ip: p.ip }, ADMIN_PORT, { context: o.context }));
        if (!f) continue;
        try {
          for (const [path, file] of [['/config_dump?include_eds', 'config_dump.json'], ['/clusters?format=json', 'clusters.json'], ['/stats', 'stats.txt'], ['/logging', 'logging.txt']] as const) {
            const body = await attempt(`${p.pod}.${p.namespace}: admin ${path}`, () => fetchText(f.url, path));
            if (body !== undefined) put(`${dir}/${file}`, body);
          }
        } finally {
          f.close();
        }
      }
      versions.proxies = proxies.map((p) => ({ proxy: p.proxy, pushVersion: p.pushVersion, connectedAt: p.connectedAt }));
    }
    put('versions.json', json(versions));

    // container logs
    const pods = (configz ?? []).filter((x) => x.kind === 'Pod').map((x) => ({ namespace: x.metadata.namespace ?? 'default', name: x.metadata.name }));
    for (const p of proxies) if (p.pod && p.namespace && !pods.some((x) => x.name === p.pod && x.namespace === p.namespace)) pods.push({ namespace: p.namespace, name: p.pod });
    const runDir = o.runDir ? resolve(o.runDir) : findRunDir(pods);
    if (runDir && existsSync(join(runDir, 'logs'))) {
      log(`logs from ${runDir}`);
      for (const name of readdirSync(join(runDir, 'logs')).sort()) {
        const m = /^([^_]+)_(.+)_([^_]+)\.log$/.exec(name);
        if (!m) continue;
        put(`logs/${m[1]}/${m[2]}/${m[3]}.log`, tail(join(runDir, 'logs', name)));
      }
      if (existsSync(join(runDir, 'runtime.log'))) put('logs/runtime.log', tail(join(runDir, 'runtime.log')));
    } else if (pods.length) {
      let kubectl = true;
      for (const p of pods) {
        if (!kubectl) break;
        try {
          const containers = execFileSync('kubectl', [...(o.context ? ['--context', o.context] : []), 'get', 'pod', '-n', p.namespace, p.name, '-o', 'jsonpath={.spec.containers[*].name} {.spec.initContainers[*].name}'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split(/\s+/).filter(Boolean);
          for (const c of containers) {
            const text = execFileSync('kubectl', [...(o.context ? ['--context', o.context] : []), 'logs', '-n', p.namespace, p.name, '-c', c, `--limit-bytes=${LOG_TAIL_BYTES}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: LOG_TAIL_BYTES * 2 });
            put(`logs/${p.namespace}/${p.name}/${c}.log`, text);
          }
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (e.code === 'ENOENT') {
            kubectl = false;
            problems.push('logs: no local runtime run directory with these pods\' logs (give --run-dir) and kubectl is not installed');
          } else problems.push(`logs of ${p.name}.${p.namespace}: ${(e as Error).message.split('\n')[0]}`);
        }
      }
    } else problems.push('logs: no pods known (control plane unreachable?)');

    put('problems.txt', problems.length ? problems.join('\n') + '\n' : 'none\n');
    const out = resolve(o.output);
    mkdirSync(dirname(out), { recursive: true });
    await create({ gzip: true, file: out, cwd: stage, portable: true }, ['bug-report']);
    return { path: out, files, bytes: statSync(out).size, problems };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
