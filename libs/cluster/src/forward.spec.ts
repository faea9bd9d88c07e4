import { createServer, connect, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { describeObjects, Forward, freeLoopbackPort, portFree, selectorOf } from './index';

const listen = (s: Server, port = 0) => new Promise<number>((r) => s.listen(port, '127.0.0.1', () => r((s.address() as { port: number }).port)));
const roundTrip = (port: number, msg: string) =>
  new Promise<string>((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => c.write(msg));
    c.on('data', (d) => {
      resolve(String(d));
      c.destroy();
    });
    c.on('error', reject);
  });

describe('loopback forwarding (real sockets)', () => {
  const open: { close(): unknown }[] = [];
  afterEach(() => open.splice(0).forEach((x) => x.close()));

  it('pipes both ways to the target, and takes another port when the preferred one is in use', async () => {
    const upstream = createServer((s) => s.on('data', (d) => s.write(`echo:${d}`)));
    open.push(upstream);
    const target = await listen(upstream);
    expect(await portFree(target)).toBe(false);
    const f = await Forward.open({ host: '127.0.0.1', port: target }, target);
    open.push(f);
    expect(f.port).not.toBe(target);
    expect(await roundTrip(f.port, 'ping')).toBe('echo:ping');
    const free = await freeLoopbackPort();
    expect(await portFree(free)).toBe(true);
    const g = await Forward.open({ host: '127.0.0.1', port: target }, free);
    open.push(g);
    expect(g.port).toBe(free);
  });

  it('names objects and selectors as kubectl prints them', () => {
    expect(describeObjects([{ kind: 'Service', metadata: { name: 'a' } }, { kind: 'Deployment', metadata: { name: 'b', namespace: 'x' } }, {}])).toEqual(['Service default/a', 'Deployment x/b']);
    expect(selectorOf({ app: 'callme', version: 'v1' })).toBe('app=callme,version=v1');
  });
});
