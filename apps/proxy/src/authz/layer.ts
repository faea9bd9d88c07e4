/**
 * The security HTTP filters as `(next) => handler` layers of a connection manager, in the order
 * the control plane lists them: local rate limit (`envoy.filters.http.local_ratelimit`, per
 * route when the route carries a config), JWT authentication (`envoy.filters.http.jwt_authn`)
 * and RBAC (`envoy.filters.http.rbac`). The request's {@link AuthzAttributes} are built once and
 * shared by the filters of one request.
 */
import type { Http2ServerRequest } from 'node:http2';
import { isIP } from 'node:net';
import type { Exchange } from '../http/exchange';
import type { HttpHandler, Layer } from '../http/filters';
import { localReply } from '../http/local-reply';
import { RF } from '../http/response-flags';
import { peerIdentityOf } from '../security/peer';
import { AuthzAttributes } from './attributes';
import type { JwtAuthn, JwtOutcome } from './jwt';
import type { LocalRateLimit } from './rate-limit';
import { authorize, type RbacEngine } from './rbac';


/** What carries the connection's facts (peer identity): the socket, or an HTTP/2 request's session. */
export function requestSocket(ex: Exchange): unknown {
  const req = ex.req as Http2ServerRequest;
  return ex.http2 ? req.stream?.session : req.socket;
}

/** How the original client address is found (Envoy `use_remote_address`, `xff_num_trusted_hops`). */
export interface RemoteAddressPolicy {
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
}

/**
 * The original client's address (Envoy's trusted client address): with `use_remote_address` the
 * socket peer, unless `xff_num_trusted_hops` N > 0 proxies in front are trusted — then the Nth
 * address from the right of `x-forwarded-for` as received; without it, the last address of XFF
 * after skipping N. Too few entries, or an entry that is not an IP address: the socket peer.
 */
export function trustedClientAddress(xff: string | string[] | undefined, peer: string, p: RemoteAddressPolicy | null): string {
  const v = Array.isArray(xff) ? xff.join(',') : xff;
  const n = p?.xffNumTrustedHops ?? 0;
  if (p?.useRemoteAddress) {
    if (n === 0 || !v) return peer;
    return xffFromRight(v, n - 1) ?? peer;
  }
  if (!v) return peer;
  return xffFromRight(v, n) ?? peer;
}

function xffFromRight(v: string, skip: number): string | null {
  const hops = v.split(',');
  if (hops.length <= skip) return null;
  const ip = hops[hops.length - 1 - skip].trim();
  return isIP(ip) !== 0 ? ip : null;
}

/** The request's authorization attributes, built on first use. */
export function attributesOf(ex: Exchange, policy: RemoteAddressPolicy | null = null): AuthzAttributes {
  let a = ex.authz;
  if (a !== null) return a;
  a = new AuthzAttributes();
  const peer = peerIdentityOf(requestSocket(ex));
  if (peer) {
    a.authenticated = true;
    a.principal = peer.principal || peer.subject;
    a.sni = peer.sni;
  }
  a.directRemoteIp = ex.conn.srcIp;
  a.remoteIp = trustedClientAddress(ex.headers['x-forwarded-for'], ex.conn.srcIp, policy);
  a.destinationIp = ex.conn.dstIp;
  a.destinationPort = ex.conn.dstPort;
  a.method = ex.method;
  a.target = ex.query ? `${ex.path}?${ex.query}` : ex.path;
  a.authority = ex.authority;
  a.scheme = ex.scheme;
  a.headers = ex.headers;
  a.lines = ex;
  ex.authz = a;
  return a;
}

/** Envoy's RBAC filter. */
export class RbacFilter implements HttpHandler {
  denied = 0;
  allowed = 0;
  constructor(private readonly next: HttpHandler, private readonly engines: readonly RbacEngine[], private readonly policy: RemoteAddressPolicy | null) {}

  handle(ex: Exchange): void {
    const a = attributesOf(ex, this.policy);
    if (a.path() === null) {
      localReply(ex, 400, 'Bad Request', null);
      return;
    }
    const d = authorize(this.engines, a);
    if (!d.allowed) {
      this.denied++;
      localReply(ex, 403, 'RBAC: access denied', null);
      return;
    }
    this.allowed++;
    this.next.handle(ex);
  }
}

/** Envoy's JWT authentication filter. */
export class JwtFilter implements HttpHandler {
  constructor(private readonly next: HttpHandler, private readonly jwt: JwtAuthn, private readonly policy: RemoteAddressPolicy | null) {}

  handle(ex: Exchange): void {
    const a = attributesOf(ex, this.policy);
    this.jwt.authenticate(a).then((r) => this.resume(ex, r), () => this.resume(ex, { ok: false, status: 401, body: 'Jwt verification fails' }));
  }

  private resume(ex: Exchange, r: JwtOutcome): void {
    if (ex.done) return;
    if (!r.ok) {
      localReply(ex, r.status, r.body, { 'www-authenticate': `Bearer realm="${ex.scheme}://${ex.authority}${ex.path}", error="invalid_token"` });
      return;
    }
    const h = ex.headers;
    for (const name of r.removeHeaders) delete h[name];
    for (const [k, v] of r.setHeaders) h[k] = v;
    const a = attributesOf(ex, this.policy);
    if (r.authn) a.setAuthn(r.authn);
    if (r.metadata) {
      a.metadata ??= {};
      a.metadata['envoy.filters.http.jwt_authn'] = r.metadata;
    }
    // Routes matching on what authentication established (JWT claims): pick the route again, as
    // Envoy does when the JWT filter clears the route cache.
    if (ex.vhost !== null && ex.vhost.matchesMetadata) ex.route = ex.vhost.match(ex);
    this.next.handle(ex);
  }
}

/** Where a route's own rate limit config is found, if any (`typed_per_filter_config`). */
export type RouteRateLimit = (ex: Exchange) => LocalRateLimit | null | undefined;

/** Envoy's local rate limit filter: the route's bucket when the route has one, else the listener's. */
export class RateLimitFilter implements HttpHandler {
  constructor(private readonly next: HttpHandler, private readonly listener: LocalRateLimit | null, private readonly perRoute: RouteRateLimit | null) {}

  handle(ex: Exchange): void {
    const rl = (this.perRoute ? this.perRoute(ex) : null) ?? this.listener;
    if (rl !== null && rl.limited()) {
      const extra: Record<string, string> = {};
      for (const [k, v] of rl.responseHeaders) extra[k] = v;
      ex.flags |= RF.RateLimited;
      localReply(ex, rl.status, 'local_rate_limited', extra);
      return;
    }
    this.next.handle(ex);
  }
}

/** Layer constructors. */
export function rbacLayer(engines: readonly RbacEngine[], policy: RemoteAddressPolicy | null = null): Layer {
  return (next) => new RbacFilter(next, engines, policy);
}
export function jwtLayer(jwt: JwtAuthn, policy: RemoteAddressPolicy | null = null): Layer {
  return (next) => new JwtFilter(next, jwt, policy);
}
export function rateLimitLayer(listener: LocalRateLimit | null, perRoute: RouteRateLimit | null = null): Layer {
  return (next) => new RateLimitFilter(next, listener, perRoute);
}
