import { describe, expect, it } from 'vitest';
import { ObjectStore, type WatchEvent } from './store';
import type { KubeObject } from './kube';

const cm = (name: string, data: Record<string, string>, ns = 'default'): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data });
const dep = (replicas: number): KubeObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'ns' }, spec: { replicas } });

describe('ObjectStore', () => {
  it('stamps every write with a new resourceVersion, keeps uid and creationTimestamp, and moves generation only with the spec', () => {
    const s = new ObjectStore();
    const a = s.put(dep(1));
    expect(a.metadata).toMatchObject({ resourceVersion: '1', generation: 1 });
    const uid = a.metadata.uid;
    const b = s.put(dep(1));
    expect(b.metadata).toMatchObject({ resourceVersion: '2', generation: 1, uid, creationTimestamp: a.metadata.creationTimestamp });
    const c = s.put(dep(2));
    expect(c.metadata).toMatchObject({ resourceVersion: '3', generation: 2, uid });
    s.status('Deployment', 'ns/d', { replicas: 2 });
    expect(s.get('Deployment', 'ns/d')?.metadata).toMatchObject({ resourceVersion: '4', generation: 2 });
    // A re-apply without status keeps the status the controller wrote.
    expect(s.put(dep(2)).status).toEqual({ replicas: 2 });
    s.patch('Deployment', 'ns/d', (o) => void ((o.spec as { replicas: number }).replicas = 3));
    expect(s.get('Deployment', 'ns/d')?.metadata.generation).toBe(3);
    expect(s.resourceVersion).toBe('6');
  });

  it('lists what exists to a new watch, then every change in order; a cancelled watch hears nothing', () => {
    const s = new ObjectStore();
    s.put(cm('one', { a: '1' }));
    const seen: string[] = [];
    const all: string[] = [];
    const stop = s.watch('ConfigMap', (e: WatchEvent) => void seen.push(`${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`));
    s.watch('*', (e) => void all.push(`${e.type} ${e.object.kind}`));
    s.put(cm('two', { b: '2' }));
    s.put(cm('one', { a: '3' }));
    s.put(dep(1));
    s.delete('ConfigMap', 'default/two');
    stop();
    s.put(cm('three', {}));
    expect(seen).toEqual(['ADDED one 1', 'ADDED two 2', 'MODIFIED one 3', 'DELETED two 5']);
    expect(all).toEqual(['ADDED ConfigMap', 'ADDED ConfigMap', 'MODIFIED ConfigMap', 'ADDED Deployment', 'DELETED ConfigMap', 'ADDED ConfigMap']);
    expect(s.list('ConfigMap').map((o) => o.metadata.name).sort()).toEqual(['one', 'three']);
    expect(s.list('ConfigMap', 'other')).toEqual([]);
  });

  it('apply and remove resolve once the work their watchers started has settled', async () => {
    const s = new ObjectStore();
    const done: string[] = [];
    s.watch('ConfigMap', (e) => new Promise<void>((r) => setTimeout(() => { done.push(`${e.type} ${e.object.metadata.name}`); r(); }, 20)));
    await s.apply(cm('x', {}));
    expect(done).toEqual(['ADDED x']);
    await s.remove('ConfigMap', 'default/x');
    expect(done).toEqual(['ADDED x', 'DELETED x']);
    expect(await s.remove('ConfigMap', 'default/x')).toBeUndefined();
  });
});
