/**
 * Envoy's `envoy.filters.http.header_mutation` (`HeaderMutation`): request mutations applied to
 * the downstream request before the router builds the upstream request, response mutations to the
 * upstream response's headers. Each mutation is an `append` (HeaderValueOption, with Envoy's
 * append actions and `%…%` formatters) or a `remove`; anything else is refused (NACK).
 */
import { compileHeaderMutation, type HeaderMutation } from '../config/headers';
import { reject } from '../config/errors';
import type { Exchange } from '../http/exchange';
import type { HttpHandler, Layer } from '../http/filters';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const FIELDS = new Set(['mutations', 'most_specific_header_mutations_wins']);
const MUTATIONS = new Set(['request_mutations', 'response_mutations']);

function compileList(list: Dec[] | undefined, field: string): HeaderMutation[] {
  return (list ?? []).map((m, i) => {
    const at = `${field}[${i}]`;
    if (m.append) {
      const key = String(m.append.header?.key ?? '').toLowerCase();
      if (key.startsWith(':')) reject(`${at}.append.header.key`, `pseudo-header "${key}" cannot be modified`);
      return compileHeaderMutation([m.append], undefined, `${at}.append`);
    }
    if (typeof m.remove === 'string' && m.remove) {
      const key = m.remove.toLowerCase();
      if (key.startsWith(':') || key === 'host') reject(`${at}.remove`, `"${m.remove}" cannot be removed`);
      return compileHeaderMutation(undefined, [key], `${at}.remove`);
    }
    return reject(at, `only append and remove are supported (${Object.keys(m).filter((k) => m[k] !== undefined && m[k] !== null && m[k] !== '').join(', ') || 'empty'})`);
  });
}

/** The compiled filter config. */
export class HeaderMutationConfig {
  constructor(readonly request: readonly HeaderMutation[], readonly response: readonly HeaderMutation[]) {}

  /** Compiles a decoded `HeaderMutation`; throws ConfigError naming the field. */
  static compile(cfg: Dec, field: string): HeaderMutationConfig {
    for (const k of Object.keys(cfg)) {
      const v = cfg[k];
      if (!FIELDS.has(k) && v !== undefined && v !== null && !(Array.isArray(v) && !v.length) && v !== false) reject(`${field}.${k}`, 'is not supported');
    }
    const m: Dec = cfg.mutations ?? {};
    for (const k of Object.keys(m)) {
      const v = m[k];
      if (!MUTATIONS.has(k) && v !== undefined && v !== null && !(Array.isArray(v) && !v.length)) reject(`${field}.mutations.${k}`, 'is not supported');
    }
    return new HeaderMutationConfig(compileList(m.request_mutations, `${field}.mutations.request_mutations`), compileList(m.response_mutations, `${field}.mutations.response_mutations`));
  }
}

class HeaderMutationFilter implements HttpHandler {
  constructor(private readonly next: HttpHandler, private readonly cfg: HeaderMutationConfig) {}

  handle(ex: Exchange): void {
    const c = this.cfg;
    if (c.request.length) {
      const fmt = ex.formatContext();
      for (let i = 0; i < c.request.length; i++) c.request[i].apply(ex.headers as Record<string, string | string[] | undefined>, fmt);
    }
    if (c.response.length) ex.addResponseMutations(c.response);
    this.next.handle(ex);
  }
}

/** The filter as a layer of the connection manager's stack. */
export function headerMutationLayer(cfg: HeaderMutationConfig): Layer {
  return (next) => new HeaderMutationFilter(next, cfg);
}
