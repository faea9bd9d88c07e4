import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capabilitySet, ContainerConfigError, DEFAULT_CAPABILITIES, imageLaunchScript, imageProcess, resolveUser } from './image-launch';
import { checkPullPolicy, defaultPullPolicy, ImagePullError, type ImageConfig } from './image-rootfs';

const rootfs = mkdtempSync(join(tmpdir(), 'image-launch-'));
mkdirSync(join(rootfs, 'etc'));
writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\nistio-proxy:x:1337:1337::/tmp:/bin/sh\n');
writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\nproxy:x:1337:\n');
afterAll(() => rmSync(rootfs, { recursive: true, force: true }));
const image = (o: Partial<ImageConfig> = {}): ImageConfig => ({ id: 'sha256:1', user: '', env: ['PATH=/usr/local/bin:/usr/bin', 'NODE_ENV=production'], entrypoint: ['node', '/app/main.js'], cmd: [], workingDir: '/app', ...o });

describe('capabilities', () => {
  it('start from the container runtime default, drop then add; ALL as Kubernetes means it', () => {
    expect(capabilitySet({}, 'c')).toEqual(DEFAULT_CAPABILITIES);
    expect(capabilitySet({ capabilities: { drop: ['ALL'] } }, 'c')).toEqual([]);
    expect(capabilitySet({ capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'CAP_NET_RAW'] } }, 'c')).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(capabilitySet({ capabilities: { drop: ['NET_RAW'] } }, 'c')).not.toContain('NET_RAW');
    expect(capabilitySet({ privileged: true }, 'c')).toContain('SYS_ADMIN');
  });
  it('refuse an unknown name, naming the field', () => {
    expect(() => capabilitySet({ capabilities: { add: ['NET_ADMIN', 'NET_WIZARD'] } }, 'pod a/b: container c')).toThrow(/pod a\/b: container c: securityContext.capabilities.add\[1\]: unknown capability "NET_WIZARD"/);
  });
});

describe('user and group', () => {
  it("take the image's USER (number, name, user:group) unless runAsUser/runAsGroup say otherwise", () => {
    expect(resolveUser(image({ user: '1337:1337' }), rootfs, {}, {}, 'c')).toEqual({ uid: 1337, gid: 1337, groups: [] });
    expect(resolveUser(image({ user: 'node' }), rootfs, {}, {}, 'c')).toEqual({ uid: 1000, gid: 1000, groups: [] });
    expect(resolveUser(image({ user: '1000:proxy' }), rootfs, {}, {}, 'c')).toMatchObject({ uid: 1000, gid: 1337 });
    expect(resolveUser(image({ user: '' }), rootfs, {}, {}, 'c')).toMatchObject({ uid: 0, gid: 0 });
    // runAsUser without runAsGroup: the primary group of that UID in the image's passwd.
    expect(resolveUser(image({ user: '1000:1000' }), rootfs, { runAsUser: 1337 }, {}, 'c')).toMatchObject({ uid: 1337, gid: 1337 });
    expect(resolveUser(image(), rootfs, { runAsUser: 1000, runAsGroup: 5, fsGroup: 2000, supplementalGroups: [7] }, { runAsUser: 0 }, 'c')).toEqual({ uid: 0, gid: 5, groups: [2000, 7] });
  });
  it('runAsNonRoot refuses UID 0 and an unverifiable named user, as the kubelet does', () => {
    expect(() => resolveUser(image({ user: '' }), rootfs, { runAsNonRoot: true }, {}, 'c')).toThrow(/container has runAsNonRoot and image will run as root/);
    expect(() => resolveUser(image({ user: 'node' }), rootfs, {}, { runAsNonRoot: true }, 'c')).toThrow(/non-numeric user \(node\), cannot verify user is non-root/);
    expect(resolveUser(image({ user: 'node' }), rootfs, { runAsNonRoot: true, runAsUser: 1000 }, {}, 'c').uid).toBe(1000);
    expect(() => resolveUser(image({ user: 'nobody' }), rootfs, {}, {}, 'c')).toThrow(ContainerConfigError);
  });
});

describe('argv and env', () => {
  it('command replaces ENTRYPOINT and CMD, args replace CMD; image ENV under the container env; HOME from passwd', () => {
    const img = image({ cmd: ['--default'] });
    expect(imageProcess({}, img, rootfs, 1000, {}, 'c').argv).toEqual(['node', '/app/main.js', '--default']);
    expect(imageProcess({ args: ['serve'] }, img, rootfs, 1000, {}, 'c').argv).toEqual(['node', '/app/main.js', 'serve']);
    expect(imageProcess({ command: ['sh', '-c'], args: ['x'] }, img, rootfs, 1000, {}, 'c').argv).toEqual(['sh', '-c', 'x']);
    const p = imageProcess({ workingDir: '/w' }, img, rootfs, 1000, { NODE_ENV: 'test' }, 'c');
    expect(p.env).toMatchObject({ PATH: '/usr/local/bin:/usr/bin', NODE_ENV: 'test', HOME: '/home/node' });
    expect(p.workingDir).toBe('/w');
    expect(() => imageProcess({}, image({ entrypoint: [] }), rootfs, 0, {}, 'pod x: container y')).toThrow(/pod x: container y: no command specified/);
  });
});

describe('pull policy', () => {
  it("defaults as Kubernetes does: Always for :latest or no tag, IfNotPresent otherwise", () => {
    expect(defaultPullPolicy('tsmesh/proxy')).toBe('Always');
    expect(defaultPullPolicy('tsmesh/proxy:latest')).toBe('Always');
    expect(defaultPullPolicy('localhost:5000/tsmesh/proxy:1.2')).toBe('IfNotPresent');
    expect(defaultPullPolicy('localhost:5000/tsmesh/proxy')).toBe('Always');
    expect(defaultPullPolicy('tsmesh/proxy@sha256:abc')).toBe('IfNotPresent');
  });
  it('runs a present image under IfNotPresent and Never; refuses a missing one and Always', () => {
    expect(() => checkPullPolicy('a:1', 'IfNotPresent', true, 'c')).not.toThrow();
    expect(() => checkPullPolicy('a:1', 'Never', true, 'c')).not.toThrow();
    expect(() => checkPullPolicy('a:1', 'Never', false, 'c')).toThrow(/ErrImageNeverPull: image "a:1" is not present with pull policy of Never/);
    expect(() => checkPullPolicy('a:1', 'IfNotPresent', false, 'c')).toThrow(ImagePullError);
    expect(() => checkPullPolicy('a:1', 'Always', true, 'c')).toThrow(/Always.*no registry to pull from/);
  });
});

describe('launch script', () => {
  const script = (readOnlyRoot: boolean) => imageLaunchScript({
    image: { rootfs: '/cache/abc', readOnlyRoot, uid: 1337, gid: 1337, groups: [], capabilities: ['NET_ADMIN'], noNewPrivs: true, workingDir: '/app', helperDir: '/cache/launch', hostPaths: [] },
    mounts: [{ source: '/run/v/data', target: '/var/lib/data', isFile: false }, { source: '/run/v/certs', target: '/etc/certs', readOnly: true, isFile: false }],
    hostsFile: '/etc/netns/x/hosts', resolvConf: '/etc/netns/x/resolv.conf', scratchDir: '/run/scratch',
  });
  it('mounts volumes into the overlay, remounts the root read-only after them, and drops privileges inside the root', () => {
    const s = script(true);
    expect(s).toContain("lowerdir=/cache/abc,upperdir=/run/scratch/up");
    const ro = s.indexOf("mount -o remount,bind,ro '/run/scratch/root'\n");
    expect(ro).toBeGreaterThan(s.indexOf("mount --bind '/run/v/data' '/run/scratch/root/var/lib/data'"));
    expect(s).toContain("mount -o remount,bind,ro '/run/scratch/root/etc/certs'");
    expect(s).not.toContain("remount,bind,ro '/run/scratch/root/var/lib/data'");
    expect(s).toMatch(/--root='\/run\/scratch\/root' --wd='\/app' -- '\/dev\/\.tsmesh\/ld\.so' .* '--reuid' '1337' '--regid' '1337' '--clear-groups' '--bounding-set' '-all,\+net_admin' '--inh-caps' '-all' '--no-new-privs'/);
    expect(script(false)).not.toContain("mount -o remount,bind,ro '/run/scratch/root'\n");
  });
});
