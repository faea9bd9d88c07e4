/** Regular expressions with RE2 semantics, as Envoy and gRPC evaluate them (`re2js`, a port of RE2). */
import { RE2JS } from 're2js';

/** Why `pattern` is not an RE2 expression, or null when it is. */
export function re2Error(pattern: string): string | null {
  try {
    RE2JS.compile(pattern);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** True when RE2 `pattern` matches the whole of `text` (Envoy's `safe_regex` semantics). */
export function re2FullMatch(pattern: string, text: string): boolean {
  return RE2JS.compile(pattern).matches(text);
}
