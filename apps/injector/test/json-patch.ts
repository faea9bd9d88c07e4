// A small RFC 6902 applier for the tests (add, replace, remove; '-' appends), independent of the
// injector's own diff, so the patch is checked the way the API server applies it.
type Json = unknown;

function decode(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Applies a JSON Patch to a copy of `doc`; throws on a path that does not exist, as the API server would. */
export function applyPatch(doc: Json, patch: { op: string; path: string; value?: unknown }[]): Json {
  const root = { v: structuredClone(doc) } as Record<string, Json>;
  for (const op of patch) {
    const tokens = op.path === '' ? [] : op.path.slice(1).split('/').map(decode);
    let parent: Record<string, Json> | Json[] = root;
    let key: string = 'v';
    for (const t of tokens) {
      const next = (parent as Record<string, Json>)[key];
      if (typeof next !== 'object' || next === null) throw new Error(`${op.op} ${op.path}: parent of ${t} does not exist`);
      parent = next as Record<string, Json>;
      key = t;
    }
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`${op.op} ${op.path}: bad index`);
      if (op.op === 'add') parent.splice(index, 0, structuredClone(op.value));
      else if (op.op === 'replace') parent[index] = structuredClone(op.value);
      else if (op.op === 'remove') parent.splice(index, 1);
      else throw new Error(`unsupported op ${op.op}`);
    } else {
      if (op.op !== 'add' && !(key in parent)) throw new Error(`${op.op} ${op.path}: no such member`);
      if (op.op === 'add' || op.op === 'replace') parent[key] = structuredClone(op.value);
      else if (op.op === 'remove') delete parent[key];
      else throw new Error(`unsupported op ${op.op}`);
    }
  }
  return root.v;
}
