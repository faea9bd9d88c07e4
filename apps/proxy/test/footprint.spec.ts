/**
 * The proxy's memory footprint, as far as a test can hold it without timing anything: what the
 * bundle loads at start (the packages the hot path does not need are imported on first use, in
 * their own chunks).
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const projectDir = resolve(import.meta.dirname, '..');
const root = resolve(projectDir, '../..');

/** The proxy bundled as tools/build.mjs bundles it (code splitting on, its plugin); metafile only unless `outdir` is given. */
async function metafile(outdir?: string): Promise<Metafile> {
  const { requireBuiltins } = (await import(pathToFileURL(resolve(root, 'tools/builtins-plugin.mjs')).href)) as { requireBuiltins: Plugin };
  const r = await build({
    absWorkingDir: root,
    entryPoints: [resolve(projectDir, 'src/main.ts')],
    outdir: outdir ?? resolve(root, 'node_modules/.cache/tsmesh-proxy-footprint'),
    outbase: resolve(projectDir, 'src'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    splitting: true,
    write: outdir !== undefined,
    metafile: true,
    tsconfig: resolve(root, 'tsconfig.base.json'),
    logLevel: 'error',
    plugins: [requireBuiltins],
  });
  return r.metafile;
}

/** Every package the entry loads before it runs: its static imports and those of the chunks it imports statically. */
function loadedAtStart(meta: Metafile, entry: string): { packages: Set<string>; lazyChunks: Set<string> } {
  const packages = new Set<string>();
  const lazyChunks = new Set<string>();
  const seen = new Set<string>();
  const visit = (out: string) => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const imp of meta.outputs[out].imports) {
      if (imp.kind === 'dynamic-import') {
        if (!imp.external) lazyChunks.add(imp.path);
        continue;
      }
      if (imp.external) packages.add(imp.path);
      else visit(imp.path);
    }
  };
  visit(entry);
  return { packages, lazyChunks };
}

describe('proxy footprint', () => {
  it('loads neither the PKI library, full protobufjs, OpenTelemetry, undici, RE2 nor jose at start', async () => {
    const meta = await metafile();
    const entry = Object.keys(meta.outputs).find((o) => meta.outputs[o].entryPoint?.endsWith('apps/proxy/src/main.ts'));
    expect(entry).toBeDefined();
    const { packages, lazyChunks } = loadedAtStart(meta, entry!);
    // what the data path and the xDS client need
    expect(packages).toContain('@grpc/grpc-js');
    expect(packages).toContain('protobufjs/minimal.js');
    for (const lazy of ['@peculiar/x509', 'reflect-metadata', 'protobufjs', 'undici', 're2js', 'jose']) expect(packages).not.toContain(lazy);
    expect([...packages].filter((p) => p.startsWith('@opentelemetry/'))).toEqual([]);
    // ... and they are still there, behind import()
    const lazyPackages = new Set([...lazyChunks].flatMap((c) => [...loadedAtStart(meta, c).packages]));
    expect(lazyPackages).toContain('@peculiar/x509');
    expect(lazyPackages).toContain('@opentelemetry/sdk-trace');
  });

  it("evaluates no built-in's getters at start: Node's undici, WebCrypto and the net address classes stay unloaded", async () => {
    const dir = mkdtempSync(resolve(root, 'node_modules/.cache/tsmesh-proxy-footprint-run-'));
    try {
      await metafile(dir);
      // the bundle's static imports all run before the CLI parses --help and exits
      writeFileSync(resolve(dir, 'modules.cjs'), "process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, process.moduleLoadList.join('\\n')));\n");
      const out = resolve(dir, 'modules.txt');
      execFileSync(process.execPath, ['--require', resolve(dir, 'modules.cjs'), resolve(dir, 'main.js'), '--help'], { env: { ...process.env, MODULES_OUT: out }, stdio: 'ignore' });
      const loaded = readFileSync(out, 'utf8').split('\n');
      expect(loaded).toContain('NativeModule tls');
      expect(loaded).toContain('NativeModule http');
      for (const m of ['internal/deps/undici/undici', 'internal/crypto/webcrypto', 'internal/blocklist', 'internal/socketaddress']) expect(loaded).not.toContain(`NativeModule ${m}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
