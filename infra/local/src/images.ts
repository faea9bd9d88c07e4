/**
 * The one table from image name to command: what each tsmesh image's entrypoint is, as a
 * process on this machine (`node dist/apps/<app>/main.js`). A container's `command` replaces
 * the entrypoint and its `args` follow it, as with a container runtime.
 */
import { join } from 'node:path';

/** How an image runs locally. */
export interface ImageEntry {
  /** The entrypoint argv; paths are relative to the workspace root. */
  entrypoint: string[];
  /** The image's environment (a Dockerfile's `ENV`); a container's `env` overrides it. */
  env?: Record<string, string>;
  /**
   * Local-runtime adaptations of args, where the image's flags assume a Kubernetes API server
   * the runtime does not run (documented per image).
   */
  adaptArgs?: (args: string[], ctx: ImageContext) => string[];
}

/** What adaptations may use. */
export interface ImageContext {
  /** The JWKS file the runtime signs service-account tokens for. */
  jwksFile: string;
  /** The `iss` of those tokens. */
  issuer: string;
  /** The control plane's watched config directory. */
  configDir: string;
}

const node = (app: string): string[] => ['node', join('dist', 'apps', app, 'main.js')];

/** Image name (without tag or registry) → how it runs. */
export const IMAGES: Record<string, ImageEntry> = {
  // the image's V8 flags and malloc arenas (apps/proxy/README.md, Memory; apps/proxy/launch.json)
  'tsmesh/proxy': { entrypoint: ['node', '--max-semi-space-size=2', '--no-concurrent-recompilation', '--expose-gc', join('dist', 'apps', 'proxy', 'main.js')], env: { MALLOC_ARENA_MAX: '2' } },
  'tsmesh/control-plane': {
    entrypoint: node('control-plane'),
    // No API server: the control plane reads the file store the runtime writes.
    adaptArgs: (args, ctx) => {
      const rest = args.filter((a) => a !== '--kubernetes');
      return rest.includes('--config-dir') ? rest : [...rest, '--config-dir', ctx.configDir];
    },
  },
  'tsmesh/ca': {
    entrypoint: node('ca'),
    // No TokenReview: tokens are verified against the runtime's JWKS; the trust bundle ConfigMaps are written by the runtime.
    adaptArgs: (args, ctx) => args.flatMap((a) => (a === '--kubernetes' ? ['--jwks', ctx.jwksFile, '--issuer', ctx.issuer] : [a])),
  },
  'tsmesh/injector': { entrypoint: node('injector') },
  'tsmesh/todolist': { entrypoint: node('todolist') },
  'tsmesh/caller': { entrypoint: node('caller') },
  'tsmesh/callme': { entrypoint: node('callme') },
};

/** `tsmesh/proxy:latest`, `docker.io/tsmesh/proxy@sha…` → `tsmesh/proxy`. */
export function imageName(image: string): string {
  let s = image.split('@')[0];
  const lastSlash = s.lastIndexOf('/');
  const colon = s.lastIndexOf(':');
  if (colon > lastSlash) s = s.slice(0, colon);
  const parts = s.split('/');
  if (parts.length > 2 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) parts.shift();
  return parts.join('/');
}

/** An image with no entry in the table. */
export class UnknownImageError extends Error {
  readonly code = 'LOCAL_UNKNOWN_IMAGE';
  constructor(image: string) {
    super(`image "${image}" has no local entrypoint (known: ${Object.keys(IMAGES).join(', ')})`);
    this.name = 'UnknownImageError';
  }
}

/** The argv a container runs: image entrypoint (or `command`) then `args`, after the image's adaptations. */
export function containerArgv(c: { image?: string; command?: string[]; args?: string[] }, ctx: ImageContext, images: Record<string, ImageEntry> = IMAGES): string[] {
  const entry = images[imageName(c.image ?? '')];
  if (!entry && !c.command) throw new UnknownImageError(c.image ?? '');
  const args = entry?.adaptArgs ? entry.adaptArgs(c.args ?? [], ctx) : (c.args ?? []);
  return [...(c.command ?? entry!.entrypoint), ...args];
}
