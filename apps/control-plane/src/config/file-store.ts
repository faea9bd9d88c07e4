/**
 * The file store: every `*.yaml`, `*.yml` and `*.json` file under a directory (recursively),
 * reloaded when it changes. Each directory has its own watcher (inotify reports files replaced
 * by rename reliably per directory), events settle briefly per file so half-written files are
 * not read, and a periodic stat pass catches anything a watcher missed.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { isStatusFile, parseConfigYaml, renderStatusFile, statusFileFor, type ConfigIssue, type ConfigResource, type ParseResult } from '@tsmesh/mesh-config';
import { changedKeys, Listeners, type ChangeListener, type ConfigStore } from './store';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** Namespace of resources that name none (default `default`). */
  defaultNamespace?: string;
  /** Wait this long after the last event on a file before reading it (default 20 ms). */
  settleMs?: number;
  /** Period of the safety pass that stats every file and reloads the changed ones (default 2000 ms; 0 disables). */
  pollMs?: number;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/**
 * A file re-read with errors (a YAML syntax error, a bad envelope) loses the documents that could
 * not be read: the resources of its previous read that the new read lacks are kept, and the
 * errors say so, so a half-edited file never deletes what it held.
 */
function keepUnreadable(prev: ParseResult | undefined, next: ParseResult, readAt: Date | undefined): ParseResult {
  if (!prev) return next;
  const have = new Set(next.resources.map((r) => r.key));
  const kept = prev.resources.filter((r) => !have.has(r.key));
  if (!kept.length) return next;
  const at = (readAt ?? new Date()).toISOString();
  const names = kept.map((r) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`).join(', ');
  return {
    ...next,
    resources: [...next.resources, ...kept],
    issues: next.issues.map((i) => (i.severity === 'error' ? { ...i, reason: `${i.reason}; kept version from ${at} of ${names}` } : i)),
  };
}

/** Watched directory of YAML files. */
export class FileStore implements ConfigStore {
  readonly name: string;
  private readonly files = new Map<string, ParseResult>();
  private readonly listeners = new Listeners();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly dirWatchers = new Map<string, FSWatcher>();
  /** `mtime:size:inode` of each file as last read, so the safety pass re-reads only what changed. */
  private readonly stamps = new Map<string, string>();
  /** When the resources of each file were last read without errors. */
  private readonly readAt = new Map<string, Date>();
  private poll?: NodeJS.Timeout;
  private stopped = false;
  /** Written statuses by status file, then resource key. */
  private readonly statuses = new Map<string, Map<string, { r: ConfigResource; status: Record<string, unknown> }>>();
  /** Status file writes, one after another. */
  private statusChain: Promise<void> = Promise.resolve();

  constructor(readonly dir: string, private readonly opts: FileStoreOptions = {}) {
    this.name = `file:${dir}`;
  }

  async start(): Promise<void> {
    await this.rescan(false);
    const every = this.opts.pollMs ?? 2000;
    if (every > 0) {
      this.poll = setInterval(() => this.schedule(''), every);
      this.poll.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    for (const w of this.dirWatchers.values()) w.close();
    this.dirWatchers.clear();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  list(): ConfigResource[] {
    const out: ConfigResource[] = [];
    for (const f of [...this.files.keys()].sort()) out.push(...this.files.get(f)!.resources);
    return out;
  }

  readIssues(): ConfigIssue[] {
    return [...this.files.keys()].sort().flatMap((f) => this.files.get(f)!.issues);
  }

  onChange(listener: ChangeListener): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Writes (or removes) a resource's status in the status file beside its config file
   * (`<name>.status.yaml`, which is never read as config); the file is replaced atomically and
   * removed when it holds no status.
   */
  writeStatus(r: ConfigResource, status: Record<string, unknown> | undefined): Promise<void> {
    const file = statusFileFor(r.source.file);
    let m = this.statuses.get(file);
    if (!m) this.statuses.set(file, (m = new Map()));
    if (status) m.set(r.key, { r, status });
    else m.delete(r.key);
    const held = m;
    const next = this.statusChain.then(async () => {
      // What the file holds when its turn comes (later updates of the same file are included).
      const entries = [...held.values()];
      if (!entries.length) {
        if (this.statuses.get(file) !== held) return;
        this.statuses.delete(file);
        await rm(file, { force: true });
        return;
      }
      const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
      await writeFile(tmp, renderStatusFile(entries));
      await rename(tmp, file);
    });
    this.statusChain = next.catch(() => undefined);
    return next;
  }

  private schedule(rel: string): void {
    if (this.stopped) return;
    const key = rel && CONFIG_FILE.test(rel) && !isStatusFile(rel) ? rel : '';
    const prev = this.timers.get(key);
    if (prev) clearTimeout(prev);
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      void (key ? this.reload(join(this.dir, key)) : this.rescan(true));
    }, this.opts.settleMs ?? 20));
  }

  /** Watches one directory (not recursively); events name entries of that directory. */
  private watchDir(dir: string): void {
    if (this.stopped || this.dirWatchers.has(dir)) return;
    try {
      const w = watch(dir, (_event, filename) => {
        if (!filename) return this.schedule('');
        // Status files (and their temporary files) are written by this store and are not config.
        if (filename.toString().includes('.status.yaml')) return;
        const rel = relative(this.dir, join(dir, filename.toString()));
        this.schedule(rel);
        if (!CONFIG_FILE.test(rel)) this.schedule('');
      });
      w.on('error', () => {
        w.close();
        this.dirWatchers.delete(dir);
        this.schedule('');
      });
      this.dirWatchers.set(dir, w);
    } catch {
      // gone already; the next pass notices
    }
  }

  private async walk(dir: string, out: string[], dirs: Set<string> = new Set()): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    dirs.add(dir);
    this.watchDir(dir);
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await this.walk(p, out, dirs);
      else if (CONFIG_FILE.test(e.name) && !isStatusFile(e.name)) out.push(p);
    }
  }

  /** Reads every file again (start, directory renames). */
  private async rescan(emit: boolean): Promise<void> {
    const found: string[] = [];
    const dirs = new Set<string>();
    await this.walk(this.dir, found, dirs);
    for (const [d, w] of this.dirWatchers) {
      if (!dirs.has(d)) {
        w.close();
        this.dirWatchers.delete(d);
      }
    }
    const before = this.list();
    const beforeIssues = JSON.stringify(this.readIssues());
    const seen = new Set(found.map((f) => relative(this.dir, f)));
    for (const f of [...this.files.keys()]) {
      if (!seen.has(f)) {
        this.files.delete(f);
        this.stamps.delete(f);
      }
    }
    for (const f of found) await this.read(f);
    if (emit) this.emitDiff(before, beforeIssues);
  }

  private async read(path: string): Promise<void> {
    const rel = relative(this.dir, path);
    try {
      const st = await stat(path);
      if (!st.isFile()) {
        this.files.delete(rel);
        this.stamps.delete(rel);
        return;
      }
      const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (this.stamps.get(rel) === stamp && this.files.has(rel)) return;
      const text = await readFile(path, 'utf8');
      const parsed = parseConfigYaml(text, path, this.opts.defaultNamespace);
      const clean = !parsed.issues.some((i) => i.severity === 'error');
      this.files.set(rel, clean ? parsed : keepUnreadable(this.files.get(rel), parsed, this.readAt.get(rel)));
      if (clean) this.readAt.set(rel, new Date());
      this.stamps.set(rel, stamp);
    } catch (err) {
      this.stamps.delete(rel);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.files.delete(rel);
      else this.files.set(rel, { resources: [], ignored: [], issues: [{ severity: 'error', code: 'FILE_READ', file: path, resource: 'file', field: '', reason: (err as Error).message }] });
    }
  }

  private async reload(path: string): Promise<void> {
    const old = this.files.get(relative(this.dir, path));
    await this.read(path);
    if (this.stopped) return;
    const now = this.files.get(relative(this.dir, path));
    const keys = changedKeys(old?.resources ?? [], now?.resources ?? []);
    if (keys.size || JSON.stringify(old?.issues ?? []) !== JSON.stringify(now?.issues ?? [])) this.listeners.emit(keys);
  }

  private emitDiff(before: ConfigResource[], beforeIssues: string): void {
    if (this.stopped) return;
    const keys = changedKeys(before, this.list());
    if (keys.size || JSON.stringify(this.readIssues()) !== beforeIssues) this.listeners.emit(keys);
  }
}
