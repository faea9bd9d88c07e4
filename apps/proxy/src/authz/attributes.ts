/**
 * What authorization decides on: the connection (peer identity, addresses, SNI), the request
 * (method, path, authority, headers) and what authentication established (`istio_authn`
 * metadata: `request.auth.principal`, `request.auth.claims`, …). One object per request, filled
 * from fields the data path already has; the canonical path is computed once, on first use.
 */
import { normalizeRulePath } from './path';

/** Header values as Node gives them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** Where the field lines of a header are read from (repeated headers one line each). */
export interface HeaderLineSource {
  headerLines(name: string): string[] | undefined;
}

/** Authentication results (Istio's `istio_authn` dynamic metadata). */
export interface AuthnResult {
  /** `<iss>/<sub>` of the accepted JWT. */
  principal: string;
  /** Claims of the accepted JWT (each as a list of strings, as Istio flattens them). */
  claims: Record<string, string[]>;
  audiences: string[];
  presenter: string;
  /** The raw payload. */
  payload: Record<string, unknown>;
}

/** Request and connection attributes for RBAC. */
export class AuthzAttributes {
  /** SPIFFE ID (or subject) of the TLS peer; '' for plaintext. */
  principal = '';
  /** True when the connection is TLS with a verified client certificate. */
  authenticated = false;
  /** The connection's peer address. */
  directRemoteIp = '';
  /** The original client (from x-forwarded-for when trusted), else the peer address. */
  remoteIp = '';
  destinationIp = '';
  destinationPort = 0;
  sni = '';
  /** HTTP only (empty for TCP). */
  method = '';
  /** Request target as received (`/a/b?c`). */
  target = '';
  authority = '';
  scheme = 'http';
  headers: HeaderBag | null = null;
  /** The request's header lines as received; when null, values are read from `headers`. */
  lines: HeaderLineSource | null = null;
  /** Dynamic metadata by filter name (`istio_authn`, `envoy.filters.http.jwt_authn`). */
  metadata: Record<string, Record<string, unknown>> | null = null;
  private canonical: string | null | undefined = undefined;

  /** The canonical path (see {@link normalizeRulePath}); null when the target is malformed. */
  path(): string | null {
    if (this.canonical === undefined) this.canonical = normalizeRulePath(this.target);
    return this.canonical;
  }

  /** Values of a header (one per field line as received), pseudo-headers included, each trimmed of surrounding whitespace; undefined when absent. */
  headerValues(name: string): string[] | undefined {
    switch (name) {
      case ':authority':
      case 'host':
        return this.authority ? [this.authority.trim()] : undefined;
      case ':method': return this.method ? [this.method] : undefined;
      case ':path': return this.target ? [this.target] : undefined;
      case ':scheme': return [this.scheme];
    }
    const v = this.lines !== null ? this.lines.headerLines(name) : this.headers?.[name];
    if (v === undefined) return undefined;
    if (typeof v === 'string') return [trimOws(v)];
    return v.map(trimOws);
  }

  /** Records authentication results as `istio_authn` metadata (what Istio's authn filter exposes to RBAC). */
  setAuthn(a: AuthnResult): void {
    this.metadata ??= {};
    this.metadata.istio_authn = {
      'request.auth.principal': a.principal,
      'request.auth.audiences': a.audiences.join(','),
      'request.auth.presenter': a.presenter,
      'request.auth.claims': a.claims,
      'request.auth.raw_claims': JSON.stringify(a.payload),
    };
  }
}

/** Trims HTTP optional whitespace (space, tab) around a header value (CVE-2019-18802). */
export function trimOws(v: string): string {
  const a = v.charCodeAt(0);
  const b = v.charCodeAt(v.length - 1);
  if (a !== 32 && a !== 9 && b !== 32 && b !== 9) return v;
  return v.replace(/^[ \t]+|[ \t]+$/g, '');
}
