/**
 * Removes what crashed runs left behind, found by the runtime's naming prefix: processes in their
 * network namespaces, the namespaces, /etc/netns directories, veths, bridges, iptables chains and
 * their jump rules. Runs whose process is still alive are left alone unless `all` is set.
 */
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tryRun } from './exec';
import { pidOfRunId, RunNames, runIdOfName } from './names';
import { NETNS_ETC, listChains, removeRunNetwork } from './network';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What cleanup removed. */
export interface CleanupReport {
  runs: string[];
  netns: string[];
  links: string[];
  chains: string[];
  killed: number[];
}

/** Removes leftovers of dead runs (or of every run, with `all`). */
export async function cleanup(opts: { all?: boolean } = {}): Promise<CleanupReport> {
  const report: CleanupReport = { runs: [], netns: [], links: [], chains: [], killed: [] };
  const stale = (id: string | undefined): id is string => {
    if (!id) return false;
    if (opts.all) return id !== undefined;
    const pid = pidOfRunId(id);
    return pid !== undefined && pid !== process.pid && !alive(pid);
  };
  const runs = new Set<string>();

  const nsList = (await run(['ip', 'netns', 'list']).catch(() => '')).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  for (const ns of nsList) {
    const id = runIdOfName(ns);
    if (!ns.startsWith('tsm-') || !stale(id)) continue;
    runs.add(id);
    const pids = (await run(['ip', 'netns', 'pids', ns]).catch(() => '')).split('\n').map(Number).filter((n) => n > 0);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        report.killed.push(pid);
      } catch {
        // already gone
      }
    }
    await tryRun(['ip', 'netns', 'del', ns]);
    report.netns.push(ns);
  }
  for (const d of await readdir(NETNS_ETC).catch(() => [] as string[])) {
    const id = runIdOfName(d);
    if (d.startsWith('tsm-') && stale(id)) {
      runs.add(id);
      await rm(join(NETNS_ETC, d), { recursive: true, force: true });
    }
  }
  const links = JSON.parse(await run(['ip', '-j', 'link', 'show'])) as { ifname: string; link_type?: string; linkinfo?: unknown }[];
  for (const l of links) {
    const name = l.ifname.split('@')[0];
    const id = runIdOfName(name);
    if (!/^tsm[0-9a-z]/.test(name) || !stale(id)) continue;
    runs.add(id);
    await tryRun(['ip', 'link', 'del', name]);
    report.links.push(name);
  }
  for (const table of ['nat', 'filter']) {
    for (const c of await listChains(table).catch(() => [] as string[])) {
      const id = runIdOfName(c);
      if (!c.startsWith('TSM-') || !stale(id)) continue;
      runs.add(id);
      report.chains.push(`${table}/${c}`);
    }
  }
  for (const id of runs) await removeRunNetwork(new RunNames(id));
  await rmdir(NETNS_ETC).catch(() => undefined);
  report.runs = [...runs];
  return report;
}
