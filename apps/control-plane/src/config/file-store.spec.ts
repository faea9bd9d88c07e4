import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from './file-store';

const ns = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('FileStore (watched directory)', () => {
  let dir = '';
  let store: FileStore | undefined;
  afterEach(async () => {
    await store?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads nested files, then follows edits, deletions and directory renames', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-fs-'));
    mkdirSync(join(dir, 'team-a'));
    writeFileSync(join(dir, 'a.yaml'), ns('a'));
    writeFileSync(join(dir, 'team-a', 'b.yml'), ns('b'));
    writeFileSync(join(dir, 'notes.txt'), 'not config');
    writeFileSync(join(dir, '.hidden.yaml'), ns('hidden'));
    store = new FileStore(dir, { settleMs: 5 });
    const events: string[][] = [];
    store.onChange((k) => events.push([...k]));
    await store.start();
    const names = () => store!.list().map((r) => r.name).sort();
    expect(names()).toEqual(['a', 'b']);

    writeFileSync(join(dir, 'a.yaml'), ns('a2'));
    await until(() => names().includes('a2'), 'edit');
    expect(events.at(-1)?.sort()).toEqual(['Namespace//a', 'Namespace//a2']);

    unlinkSync(join(dir, 'a.yaml'));
    await until(() => !names().includes('a2'), 'delete');

    renameSync(join(dir, 'team-a'), join(dir, 'team-c'));
    writeFileSync(join(dir, 'team-c', 'c.yaml'), ns('c'));
    await until(() => names().join() === 'b,c', 'directory rename and new file');

    writeFileSync(join(dir, 'team-c', 'c.yaml'), 'kind: [');
    await until(() => store!.readIssues().length === 1, 'syntax error reported');
    expect(store.readIssues()[0]).toMatchObject({ code: 'YAML_SYNTAX', file: join(dir, 'team-c', 'c.yaml') });
    // A half-written or broken file does not delete what it held: the last version read is kept.
    expect(store.readIssues()[0].reason).toMatch(/; kept version from \d{4}-.+Z of Namespace c$/);
    expect(names()).toEqual(['b', 'c']);
    unlinkSync(join(dir, 'team-c', 'c.yaml'));
    await until(() => names().join() === 'b' && store!.readIssues().length === 0, 'broken file deleted');
  });

  it('follows a file replaced by rename again and again in a new subdirectory (how runtimes write)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-fs-'));
    store = new FileStore(dir, { settleMs: 5, pollMs: 0 });
    await store.start();
    const names = () => store!.list().map((r) => r.name).sort();
    const sub = join(dir, 'networking', 'default');
    mkdirSync(sub, { recursive: true });
    for (const name of ['v1', 'v2', 'v3', 'v4']) {
      writeFileSync(join(sub, '.ns.tmp'), ns(name));
      renameSync(join(sub, '.ns.tmp'), join(sub, 'ns.yaml'));
      await until(() => names().join() === name, `replacement ${name}`);
    }
  });
});
