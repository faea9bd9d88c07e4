/**
 * Pod volumes as the kubelet materialises them, in directories under the pod's run directory:
 * emptyDir, secret, configMap, downwardAPI and projected (serviceAccountToken, configMap, secret,
 * downwardAPI). Containers see them at their mountPath (see container.ts).
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dataOf, fieldRef, type DownwardItem, type KubeObject, type PodFacts, type Volume } from './kube';
import type { TokenIssuer } from './tokens';

/** What materialising needs from the runtime. */
export interface VolumeContext {
  facts: PodFacts;
  /** Finds a Secret or ConfigMap in the pod's namespace. */
  find: (kind: 'Secret' | 'ConfigMap', namespace: string, name: string) => KubeObject | undefined;
  tokens: TokenIssuer;
}

/** A volume that cannot be materialised (a required Secret/ConfigMap is missing, …). */
export class VolumeError extends Error {
  readonly code = 'LOCAL_VOLUME';
  constructor(pod: string, volume: string, reason: string) {
    super(`pod ${pod}: volume ${volume}: ${reason}`);
    this.name = 'VolumeError';
  }
}

async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `..${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}

/** Writes every volume of the pod under `dir/<volume name>`; returns name → directory. Safe to call again to refresh. */
export async function materializeVolumes(dir: string, volumes: Volume[] | undefined, ctx: VolumeContext): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const pod = ctx.facts.pod;
  const ns = pod.metadata.namespace ?? 'default';
  const podKey = `${ns}/${pod.metadata.name}`;
  for (const v of volumes ?? []) {
    const vdir = join(dir, v.name);
    await mkdir(vdir, { recursive: true });
    out.set(v.name, vdir);
    if (v.emptyDir) {
      await chmod(vdir, 0o777);
      continue;
    }
    await chmod(vdir, 0o755);
    if (v.secret || v.configMap) {
      const kind = v.secret ? 'Secret' : 'ConfigMap';
      const name = v.secret ? v.secret.secretName : v.configMap!.name;
      const optional = (v.secret ?? v.configMap)!.optional;
      await writeKeys(vdir, kind, name, (v.secret ?? v.configMap)!.items, optional, ctx, podKey, v.name);
    } else if (v.downwardAPI) {
      await writeDownward(vdir, v.downwardAPI.items, ctx.facts);
    } else if (v.projected) {
      for (const s of v.projected.sources) {
        if (s.serviceAccountToken) {
          const token = await ctx.tokens.issue({
            namespace: ns,
            serviceAccount: pod.spec.serviceAccountName ?? 'default',
            audiences: [s.serviceAccountToken.audience ?? 'https://kubernetes.default.svc.cluster.local'],
            expirationSeconds: s.serviceAccountToken.expirationSeconds,
            pod: { name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
          });
          await writeAtomic(join(vdir, s.serviceAccountToken.path), token);
        } else if (s.configMap) await writeKeys(vdir, 'ConfigMap', s.configMap.name, s.configMap.items, s.configMap.optional, ctx, podKey, v.name);
        else if (s.secret) await writeKeys(vdir, 'Secret', s.secret.name, s.secret.items, s.secret.optional, ctx, podKey, v.name);
        else if (s.downwardAPI) await writeDownward(vdir, s.downwardAPI.items, ctx.facts);
      }
    } else {
      throw new VolumeError(podKey, v.name, `volume source ${Object.keys(v).filter((k) => k !== 'name').join(',')} is not supported locally`);
    }
  }
  return out;
}

async function writeKeys(vdir: string, kind: 'Secret' | 'ConfigMap', name: string, items: { key: string; path: string }[] | undefined, optional: boolean | undefined, ctx: VolumeContext, podKey: string, volume: string): Promise<void> {
  const obj = ctx.find(kind, ctx.facts.pod.metadata.namespace ?? 'default', name);
  if (!obj) {
    if (optional) return;
    throw new VolumeError(podKey, volume, `${kind} ${name} not found`);
  }
  const data = dataOf(obj);
  if (items) {
    for (const it of items) {
      if (!(it.key in data)) {
        if (optional) continue;
        throw new VolumeError(podKey, volume, `${kind} ${name} has no key ${it.key}`);
      }
      await writeAtomic(join(vdir, it.path), data[it.key]);
    }
  } else for (const [k, v] of Object.entries(data)) await writeAtomic(join(vdir, k), v);
}

async function writeDownward(vdir: string, items: DownwardItem[], facts: PodFacts): Promise<void> {
  for (const it of items) if (it.fieldRef) await writeAtomic(join(vdir, it.path), fieldRef(it.fieldRef.fieldPath, facts));
}
