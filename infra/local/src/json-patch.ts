/** RFC 6902 JSON Patch (add, remove, replace, move, copy, test) over plain JSON values, as the API server applies a webhook's patch. */

/** One JSON Patch operation. */
export type PatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** A patch that cannot be applied: names the operation index, op, path and reason. */
export class JsonPatchError extends Error {
  readonly code = 'JSON_PATCH';
  constructor(readonly index: number, readonly op: string, readonly path: string, reason: string) {
    super(`patch operation ${index} (${op} ${path}): ${reason}`);
    this.name = 'JsonPatchError';
  }
}

/** Splits a JSON Pointer (RFC 6901) into unescaped tokens. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`"${pointer}" is not a JSON Pointer`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function arrayIndex(arr: unknown[], token: string, forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`"${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new Error(`index ${i} is out of bounds (length ${arr.length})`);
  return i;
}

/** Resolves the parent of `tokens`' last element. */
function parentOf(doc: unknown, tokens: string[]): { parent: Container; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false)];
    else if (isContainer(cur) && Object.hasOwn(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw new Error(`path segment "${t}" does not exist`);
  }
  if (!isContainer(cur)) throw new Error('parent is not an object or array');
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function getAt(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return doc;
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, key, false)];
  if (!Object.hasOwn(parent, key)) throw new Error(`"${key}" does not exist`);
  return parent[key];
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isContainer(a) && isContainer(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

/** Applies one operation in place; returns the (possibly replaced) document root. */
function applyOne(doc: unknown, op: PatchOperation): unknown {
  const tokens = parsePointer(op.path);
  switch (op.op) {
    case 'add':
    case 'replace': {
      const value = structuredClone(op.value);
      if (tokens.length === 0) return value;
      const { parent, key } = parentOf(doc, tokens);
      if (Array.isArray(parent)) {
        const i = arrayIndex(parent, key, op.op === 'add');
        if (op.op === 'add') parent.splice(i, 0, value);
        else parent[i] = value;
      } else {
        if (op.op === 'replace' && !Object.hasOwn(parent, key)) throw new Error(`"${key}" does not exist`);
        parent[key] = value;
      }
      return doc;
    }
    case 'remove': {
      if (tokens.length === 0) throw new Error('cannot remove the whole document');
      const { parent, key } = parentOf(doc, tokens);
      if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, false), 1);
      else {
        if (!Object.hasOwn(parent, key)) throw new Error(`"${key}" does not exist`);
        delete parent[key];
      }
      return doc;
    }
    case 'test':
      if (!deepEqual(getAt(doc, op.path), op.value)) throw new Error('test failed: value differs');
      return doc;
    case 'move':
    case 'copy': {
      if (op.op === 'move' && (op.path === op.from || op.path.startsWith(`${op.from}/`))) {
        if (op.path === op.from) return doc;
        throw new Error('cannot move a value into itself');
      }
      const value = structuredClone(getAt(doc, op.from));
      if (op.op === 'move') doc = applyOne(doc, { op: 'remove', path: op.from });
      return applyOne(doc, { op: 'add', path: op.path, value });
    }
    default:
      throw new Error(`unknown op "${(op as { op: string }).op}"`);
  }
}

/** Applies `patch` to a copy of `doc`; all or nothing. */
export function applyJsonPatch<T>(doc: T, patch: readonly PatchOperation[]): T {
  if (!Array.isArray(patch)) throw new JsonPatchError(0, '?', '', 'patch is not an array');
  let out: unknown = structuredClone(doc);
  patch.forEach((op, i) => {
    if (!op || typeof op !== 'object' || typeof op.path !== 'string') throw new JsonPatchError(i, String((op as { op?: unknown })?.op), '', 'not an operation with a path');
    try {
      out = applyOne(out, op);
    } catch (err) {
      throw new JsonPatchError(i, op.op, op.path, (err as Error).message);
    }
  });
  return out as T;
}
