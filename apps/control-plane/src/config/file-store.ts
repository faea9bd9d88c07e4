/**
 * The file store: every `*.yaml`, `*.yml` and `*.json` file under a directory (recursively),
 * reloaded when it changes (fs.watch, with a short settle delay per file so half-written files
 * are not read; a rescan catches renames of directories).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseConfigYaml, type ConfigIssue, type ConfigResource, type ParseResult } from '@tsmesh/mesh-config';
import { changedKeys, Listeners, type ChangeListener, type ConfigStore } from './store';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** Namespace of resources that name none (default `default`). */
  defaultNamespace?: string;
  /** Wait this long after the last event on a file before reading it (default 20 ms). */
  settleMs?: number;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;

/** Watched directory of YAML files. */
export class FileStore implements ConfigStore {
  readonly name: string;
  private readonly files = new Map<string, ParseResult>();
  private readonly listeners = new Listeners();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private watcher?: FSWatcher;
  private stopped = false;

  constructor(readonly dir: string, private readonly opts: FileStoreOptions = {}) {
    this.name = `file:${dir}`;
  }

  async start(): Promise<void> {
    this.watcher = watch(this.dir, { recursive: true }, (_event, filename) => {
      if (!filename) return this.schedule('');
      this.schedule(filename.toString());
    });
    this.watcher.on('error', () => this.schedule(''));
    await this.rescan(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
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

  private schedule(rel: string): void {
    if (this.stopped) return;
    const key = rel && CONFIG_FILE.test(rel) ? rel : '';
    const prev = this.timers.get(key);
    if (prev) clearTimeout(prev);
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      void (key ? this.reload(join(this.dir, key)) : this.rescan(true));
    }, this.opts.settleMs ?? 20));
  }

  private async walk(dir: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await this.walk(p, out);
      else if (CONFIG_FILE.test(e.name)) out.push(p);
    }
  }

  /** Reads every file again (start, directory renames). */
  private async rescan(emit: boolean): Promise<void> {
    const found: string[] = [];
    await this.walk(this.dir, found);
    const before = this.list();
    const beforeIssues = JSON.stringify(this.readIssues());
    const seen = new Set(found.map((f) => relative(this.dir, f)));
    for (const f of [...this.files.keys()]) if (!seen.has(f)) this.files.delete(f);
    for (const f of found) await this.read(f);
    if (emit) this.emitDiff(before, beforeIssues);
  }

  private async read(path: string): Promise<void> {
    const rel = relative(this.dir, path);
    try {
      const st = await stat(path);
      if (!st.isFile()) {
        this.files.delete(rel);
        return;
      }
      const text = await readFile(path, 'utf8');
      this.files.set(rel, parseConfigYaml(text, path, this.opts.defaultNamespace));
    } catch (err) {
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
