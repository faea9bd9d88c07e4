/**
 * Header manipulation (Envoy's `request_headers_to_add/remove`, `response_headers_to_add/remove`):
 * compiled once into a {@link HeaderMutation}; applied to a plain lower-cased header object.
 */
import { reject } from './errors';

/** The subset of Envoy's header formatters the proxy implements. */
export const enum Fmt { Literal, RemoteAddress, RemoteAddressNoPort, LocalAddress, Protocol, Hostname }

const FORMATTERS: Record<string, Fmt> = {
  DOWNSTREAM_REMOTE_ADDRESS: Fmt.RemoteAddress,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: Fmt.RemoteAddressNoPort,
  DOWNSTREAM_LOCAL_ADDRESS: Fmt.LocalAddress,
  PROTOCOL: Fmt.Protocol,
  HOSTNAME: Fmt.Hostname,
};

/** Values the formatters read, per request. */
export interface FormatContext {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  protocol: string;
}

/** How a header is added (`HeaderValueOption.append_action`). */
export const enum Append { AppendOrAdd, AddIfAbsent, OverwriteOrAdd, OverwriteIfExists }

/** One header to add. */
export class HeaderAdd {
  constructor(readonly key: string, readonly parts: readonly (string | Fmt)[], readonly literal: string | null, readonly action: Append, readonly keepEmpty: boolean) {}

  /** The value for this request. */
  value(ctx: FormatContext | null): string {
    if (this.literal !== null) return this.literal;
    let out = '';
    for (const p of this.parts) {
      if (typeof p === 'string') out += p;
      else if (ctx) out += formatValue(p, ctx);
    }
    return out;
  }
}

function formatValue(f: Fmt, c: FormatContext): string {
  switch (f) {
    case Fmt.RemoteAddress: return `${c.remoteAddress}:${c.remotePort}`;
    case Fmt.RemoteAddressNoPort: return c.remoteAddress;
    case Fmt.LocalAddress: return `${c.localAddress}:${c.localPort}`;
    case Fmt.Protocol: return c.protocol;
    case Fmt.Hostname: return HOSTNAME;
    default: return '';
  }
}

const HOSTNAME = process.env.HOSTNAME ?? '';

/** Headers to add and remove, in Envoy's order: removals first, then additions. */
export class HeaderMutation {
  static readonly EMPTY = new HeaderMutation([], []);
  readonly empty: boolean;
  constructor(readonly add: readonly HeaderAdd[], readonly remove: readonly string[]) {
    this.empty = add.length === 0 && remove.length === 0;
  }

  /** Applies the mutation to `h` in place. */
  apply(h: Record<string, string | string[] | undefined>, ctx: FormatContext | null): void {
    for (let i = 0; i < this.remove.length; i++) delete h[this.remove[i]];
    for (let i = 0; i < this.add.length; i++) {
      const a = this.add[i];
      const v = a.value(ctx);
      if (v === '' && !a.keepEmpty) continue;
      const cur = h[a.key];
      switch (a.action) {
        case Append.AddIfAbsent: if (cur === undefined) h[a.key] = v; break;
        case Append.OverwriteOrAdd: h[a.key] = v; break;
        case Append.OverwriteIfExists: if (cur !== undefined) h[a.key] = v; break;
        default:
          if (cur === undefined) h[a.key] = v;
          else if (Array.isArray(cur)) cur.push(v);
          else h[a.key] = a.key === 'set-cookie' ? [cur, v] : `${cur},${v}`;
      }
    }
  }
}

interface DecodedHeaderValueOption {
  header?: { key?: string; value?: string; raw_value?: Buffer | Uint8Array | null } | null;
  append?: { value?: boolean } | null;
  append_action?: string;
  keep_empty_value?: boolean;
}

/** Parses Envoy's `%COMMAND%` header value syntax ('%%' is a literal '%'). */
function parseFormat(value: string, field: string): (string | Fmt)[] {
  const parts: (string | Fmt)[] = [];
  let lit = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== '%') { lit += ch; continue; }
    if (value[i + 1] === '%') { lit += '%'; i++; continue; }
    const end = value.indexOf('%', i + 1);
    if (end < 0) reject(field, `unterminated "%" in header value "${value}"`);
    const cmd = value.slice(i + 1, end);
    const f = FORMATTERS[cmd];
    if (f === undefined) reject(field, `header formatter %${cmd}% is not supported`);
    if (lit) parts.push(lit);
    lit = '';
    parts.push(f);
    i = end;
  }
  if (lit) parts.push(lit);
  return parts;
}

const ACTIONS: Record<string, Append> = {
  APPEND_IF_EXISTS_OR_ADD: Append.AppendOrAdd,
  ADD_IF_ABSENT: Append.AddIfAbsent,
  OVERWRITE_IF_EXISTS_OR_ADD: Append.OverwriteOrAdd,
  OVERWRITE_IF_EXISTS: Append.OverwriteIfExists,
};

/** Compiles `*_headers_to_add` and `*_headers_to_remove`. */
export function compileHeaderMutation(add: DecodedHeaderValueOption[] | undefined, remove: string[] | undefined, field: string): HeaderMutation {
  if (!add?.length && !remove?.length) return HeaderMutation.EMPTY;
  const adds = (add ?? []).map((o, i) => {
    const f = `${field}_to_add[${i}]`;
    const key = (o.header?.key ?? '').toLowerCase();
    if (!key) reject(`${f}.header.key`, 'is empty');
    if (key.startsWith(':') && key !== ':authority') reject(`${f}.header.key`, `pseudo-header "${key}" cannot be modified`);
    const raw = o.header?.raw_value;
    const value = raw && raw.length ? Buffer.from(raw).toString('latin1') : (o.header?.value ?? '');
    let action = ACTIONS[o.append_action ?? 'APPEND_IF_EXISTS_OR_ADD'];
    if (action === undefined) reject(`${f}.append_action`, `"${o.append_action}" is not supported`);
    if (o.append && o.append.value !== undefined && o.append.value !== null) action = o.append.value ? Append.AppendOrAdd : Append.OverwriteOrAdd;
    const parts = parseFormat(value, `${f}.header.value`);
    const literal = parts.every((p) => typeof p === 'string') ? parts.join('') : null;
    return new HeaderAdd(key === ':authority' ? 'host' : key, parts, literal, action, !!o.keep_empty_value);
  });
  const removes = (remove ?? []).map((k, i) => {
    const key = k.toLowerCase();
    if (key.startsWith(':') || key === 'host') reject(`${field}_to_remove[${i}]`, `"${k}" cannot be removed`);
    return key;
  });
  return new HeaderMutation(adds, removes);
}
