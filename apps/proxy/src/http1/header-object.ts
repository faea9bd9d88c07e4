/**
 * The header object of a parsed head (`{ name: value }`, lower-case names), built so that a
 * connection's repeated heads cost no hidden-class transitions.
 *
 * Adding properties one at a time to `{}` walks V8's transition tree with a megamorphic keyed
 * store per field. A client sends the same fields in the same order on every
 * request of a connection, and an upstream answers alike. So each parser keeps the names of its
 * last head and a private object of that shape: when the next head has the same names, its object
 * is a clone of that template (one copy of the shape) whose existing properties get the new
 * values. Any other head is built field by field, and becomes the template when it has no
 * repeated name. `bench/proxy/cost.ts --instructions`: 1.5–2.1% fewer instructions per request
 * (apps/proxy/README.md, Where the gap to nginx is).
 */
import type { Http1Parser } from './parser';

export type Headers = Record<string, string | string[] | undefined>;

/** How repeated fields combine: requests as Node's `IncomingMessage` (`set-cookie` an array, `cookie` joined by `; `, others by `, `), responses as arrays. */
export const enum Repeats {
  Request,
  Response,
}

/** The last head's names and a private object of its shape, per parser (connection). */
export class HeaderShape {
  names: string[] | null = null;
  template: Headers | null = null;
}

function sameNames(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The header object of `p`'s current head. */
export function headerObject(p: Http1Parser, repeats: Repeats): Headers {
  const names = p.names;
  const raw = p.raw;
  const shape = p.shape;
  const t = shape.template;
  if (t !== null && sameNames(names, shape.names!)) {
    const h: Headers = { ...t };
    for (let i = 0; i < names.length; i++) h[names[i]] = raw[2 * i + 1];
    return h;
  }
  const h: Headers = {};
  let repeated = false;
  for (let i = 0; i < names.length; i++) {
    const k = names[i];
    const v = raw[2 * i + 1];
    const cur = h[k];
    if (cur === undefined) h[k] = repeats === Repeats.Request && k === 'set-cookie' ? [v] : v;
    else {
      repeated = true;
      if (Array.isArray(cur)) cur.push(v);
      else if (repeats === Repeats.Response) h[k] = [cur, v];
      else h[k] = k === 'cookie' ? `${cur}; ${v}` : `${cur}, ${v}`;
    }
  }
  // a template only of heads whose every name is a property of its own (and no set-cookie array to share)
  if (!repeated && h['set-cookie'] === undefined) {
    shape.names = names;
    shape.template = { ...h };
  } else {
    shape.names = null;
    shape.template = null;
  }
  return h;
}
