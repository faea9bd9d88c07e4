/**
 * The runtime's image mode (`fromImages`): each container runs from its image's file system in
 * the local Docker engine instead of from the workspace's `dist/`, with the image's ENTRYPOINT,
 * ENV, USER and WORKDIR, the securityContext (runAsUser/runAsGroup/runAsNonRoot, capabilities,
 * readOnlyRootFilesystem, allowPrivilegeEscalation, privileged) and imagePullPolicy honoured.
 * The local adaptations of the image table (images.ts) still apply to the args, and the host
 * paths they name (the control plane's config directory, the JWKS) are mounted read-only.
 */
import { statSync } from 'node:fs';
import type { ContainerLaunch } from './container';
import { capabilitySet, imageProcess, prepareHelperDir, resolveUser, type PodSecurityContext, type SecurityContext } from './image-launch';
import { defaultPullPolicy, ImageStore, type ImageStoreOptions, type PullPolicy } from './image-rootfs';
import { imageName, type ImageContext, type ImageEntry } from './images';
import { expandVars, type ContainerSpec } from './kube';

/** Options of the image mode. */
export interface FromImagesOptions extends ImageStoreOptions {
  /**
   * Image references to run instead of the ones the manifests name (`{ 'tsmesh/proxy:latest':
   * 'tsmesh/proxy:e2e' }`), as `kustomize edit set image` would rewrite them: the pull policy is
   * checked for the image that runs.
   */
  rewrite?: Record<string, string>;
}

/** Turns a container of a pod into a launch from its image. */
export class ImageRunner {
  readonly store: ImageStore;
  private helperDir: string | undefined;

  /**
   * A runner ready for a run: refused with the reason when images cannot run here; unpacked images
   * no tag names any more (older builds) are pruned in the background (a failure only leaves them).
   */
  static async start(opts: FromImagesOptions, ctx: ImageContext, table: Record<string, ImageEntry>, log: (line: string) => void): Promise<ImageRunner> {
    const runner = new ImageRunner(opts, ctx, table);
    const why = await runner.unavailable();
    if (why) throw new Error(`fromImages: ${why}`);
    log(`containers run from their images (unpacked under ${runner.store.cacheDir})`);
    void runner.store.prune().then((gone) => gone.length && log(`removed ${gone.length} unpacked images no tag names`), () => undefined);
    return runner;
  }

  constructor(private readonly opts: FromImagesOptions, private readonly ctx: ImageContext, private readonly table: Record<string, ImageEntry>) {
    this.store = new ImageStore(opts);
  }

  /** Why images cannot run here, or null. */
  unavailable(): Promise<string | null> {
    return this.store.unavailable();
  }

  /**
   * The launch of container `c` from its image: `base` carries what does not depend on the image
   * (netns, mounts, the pod's DNS files, resolved env, log file); `where` names the container in errors.
   */
  async launch(c: ContainerSpec, podSc: PodSecurityContext, base: ContainerLaunch, where: string): Promise<ContainerLaunch> {
    if (!c.image) throw new Error(`${where}: no image`);
    const ref = this.opts.rewrite?.[c.image] ?? c.image;
    const policy = (c.imagePullPolicy ?? defaultPullPolicy(c.image)) as PullPolicy;
    if (!['Always', 'IfNotPresent', 'Never'].includes(policy)) throw new Error(`${where}: imagePullPolicy "${String(c.imagePullPolicy)}" is not Always, IfNotPresent or Never`);
    const img = await this.store.prepare(ref, policy, where);
    this.helperDir ??= prepareHelperDir(this.store.cacheDir);
    const sc = (c.securityContext ?? {}) as SecurityContext;
    const user = resolveUser(img.config, img.rootfs, podSc, sc, where);
    const entry = this.table[imageName(c.image)];
    const args = entry?.adaptArgs && c.args ? entry.adaptArgs(c.args, this.ctx) : c.args;
    const proc = imageProcess({ ...c, args }, img.config, img.rootfs, user.uid, base.env, where);
    const argv = proc.argv.map((a) => expandVars(a, proc.env));
    // The runtime's stand-ins for the API server that the adapted args name.
    const hostPaths = [this.ctx.configDir, this.ctx.jwksFile].filter((p) => argv.includes(p) && statSync(p, { throwIfNoEntry: false }));
    return {
      ...base,
      argv,
      env: proc.env,
      uid: user.uid,
      gid: user.gid,
      cwd: '/',
      image: {
        rootfs: img.rootfs,
        readOnlyRoot: sc.readOnlyRootFilesystem === true,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups,
        capabilities: capabilitySet(sc, where),
        noNewPrivs: sc.allowPrivilegeEscalation === false && !sc.privileged,
        workingDir: proc.workingDir,
        helperDir: this.helperDir,
        hostPaths,
      },
    };
  }
}
