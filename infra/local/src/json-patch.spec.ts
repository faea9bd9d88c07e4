import { describe, expect, it } from 'vitest';
import { applyJsonPatch, JsonPatchError, parsePointer } from './json-patch';

describe('applyJsonPatch (RFC 6902)', () => {
  const doc = { metadata: { labels: { app: 'a' }, annotations: { 'a/b': '1' } }, spec: { containers: [{ name: 'app' }] } };

  it('adds, replaces, removes, moves, copies and tests, without touching the input', () => {
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/spec/initContainers', value: [{ name: 'istio-init' }] },
      { op: 'add', path: '/spec/initContainers/-', value: { name: 'istio-proxy' } },
      { op: 'add', path: '/spec/containers/0', value: { name: 'first' } },
      { op: 'replace', path: '/metadata/labels/app', value: 'b' },
      { op: 'add', path: '/metadata/labels/security.istio.io~1tlsMode', value: 'istio' },
      { op: 'remove', path: '/metadata/annotations/a~1b' },
      { op: 'copy', from: '/metadata/labels/app', path: '/metadata/labels/copy' },
      { op: 'move', from: '/metadata/labels/copy', path: '/metadata/labels/moved' },
      { op: 'test', path: '/metadata/labels/moved', value: 'b' },
    ]);
    expect(out).toEqual({
      metadata: { labels: { app: 'b', 'security.istio.io/tlsMode': 'istio', moved: 'b' }, annotations: {} },
      spec: { containers: [{ name: 'first' }, { name: 'app' }], initContainers: [{ name: 'istio-init' }, { name: 'istio-proxy' }] },
    });
    expect(doc.metadata.labels.app).toBe('a');
  });

  it('fails as a whole with the index, op and path of the bad operation', () => {
    expect(() => applyJsonPatch(doc, [{ op: 'add', path: '/x', value: 1 }, { op: 'replace', path: '/nope/deeper', value: 1 }])).toThrow(JsonPatchError);
    expect(() => applyJsonPatch(doc, [{ op: 'remove', path: '/spec/containers/3' }])).toThrow(/operation 0 \(remove \/spec\/containers\/3\): index 3 is out of bounds/);
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/metadata/labels/app', value: 'z' }])).toThrow(/test failed/);
    expect(() => applyJsonPatch(doc, [{ op: 'replace', path: '/metadata/missing', value: 1 }])).toThrow(/does not exist/);
  });

  it('replaces the root and parses pointers with escapes', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }])).toEqual({ b: 2 });
    expect(parsePointer('/a~1b/~0c')).toEqual(['a/b', '~c']);
  });
});
