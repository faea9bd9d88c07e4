/**
 * RouteConfiguration → {@link RouteTable}: virtual hosts indexed by domain, routes with
 * precompiled matchers and actions. Built once per RDS version (or per listener for inline
 * route configs); matching a request allocates nothing beyond a lazily parsed query string.
 */
import { durationMs, ExtensionTypeUrl, unpack, type RouteConfiguration__Output, type VirtualHost__Output, type HTTPFault__Output } from '@tsmesh/xds';
import { reject } from './errors';
import { fields, rejectUnsupported } from './fields';
import { compileHeaderMatcher, compileQueryMatcher, compileRegex, HeaderKind, type HeaderMatch, type QueryMatch, type Re2Matcher } from './matchers';
import { compileMetadataMatcher, type MetadataMatch } from './metadata-match';
import { compileHeaderMutation, type HeaderMutation } from './headers';
import { compileFault, fraction, type FaultConfig } from './fault';
import { compileRetry, type RetryConfig } from './retry';
import { perRouteCompiler } from './filter-registry';

/** What route matching reads from a request. */
export interface RequestView {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Raw query string without '?', or ''. */
  readonly query: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Field lines of a header as received (repeated headers not joined), when the codec keeps them. */
  headerLines?(name: string): string[] | undefined;
  readonly authority: string;
  readonly scheme: string;
  /** Parsed query, filled on first use by {@link queryParam}. */
  parsedQuery: URLSearchParams | null;
  /** What authentication established (`metadata` by filter name), for `dynamic_metadata` matches. */
  readonly authz?: { readonly metadata: Readonly<Record<string, unknown>> | null } | null;
}

/** A query parameter of the request (parsed once). */
export function queryParam(r: RequestView, name: string): string | undefined {
  if (r.parsedQuery === null) r.parsedQuery = new URLSearchParams(r.query);
  const v = r.parsedQuery.get(name);
  return v === null ? undefined : v;
}

/** A header as Envoy's matchers see it: pseudo-headers resolved, multiple values joined with ','. */
export function headerValue(r: RequestView, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */) {
    switch (name) {
      case ':method': return r.method;
      case ':path': return r.query ? `${r.path}?${r.query}` : r.path;
      case ':authority': return r.authority;
      case ':scheme': return r.scheme;
      default: return undefined;
    }
  }
  const v = r.headers[name === 'host' ? 'host' : name];
  if (v === undefined) return name === 'host' ? r.authority : undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * A route's header matcher over a header with several field lines holds when one line satisfies
 * it (Envoy matches repeated headers value by value, not the comma-joined string).
 */
export function headerMatches(r: RequestView, h: HeaderMatch): boolean {
  const name = h.name;
  if (r.headerLines === undefined || name.charCodeAt(0) === 58 || name === 'host' || h.kind === HeaderKind.Present) return h.test(headerValue(r, name));
  const lines = r.headerLines(name);
  if (lines === undefined) return h.test(undefined);
  for (const v of lines) if (h.test(v)) return true;
  return false;
}

const EMPTY_PER_FILTER: ReadonlyMap<string, unknown> = new Map();

/** Kind of path match. */
/** Path matchers; `Connect` is Envoy's `connect_matcher` (CONNECT requests only, no path). */
export const enum PathKind { Prefix, Exact, Regex, SeparatedPrefix, Connect }

/** Envoy's `RedirectAction`, compiled. */
export class RedirectConfig {
  constructor(
    readonly scheme: string,
    readonly host: string,
    readonly port: number,
    readonly path: string | null,
    readonly prefixRewrite: string | null,
    readonly regexRewrite: RegExp | null,
    readonly regexSubstitution: string,
    readonly status: number,
    readonly stripQuery: boolean,
  ) {}
}

/** A mirror target (`request_mirror_policies`). */
export class MirrorConfig {
  constructor(readonly cluster: string, readonly fraction: number) {}
}

/** Hash policy kinds for ring hash (`RouteAction.HashPolicy`). */
export const enum HashKind { Header, Cookie, SourceIp, QueryParameter }

/** One hash policy. */
export class HashPolicyConfig {
  constructor(readonly kind: HashKind, readonly name: string, readonly terminal: boolean, readonly cookieTtlMs: number, readonly cookiePath: string) {}
}

/** Envoy's `RouteAction`, compiled. */
export class RouteActionConfig {
  constructor(
    /** Single cluster, or '' when weighted. */
    readonly cluster: string,
    readonly weightedNames: readonly string[],
    /** Cumulative weights, parallel to weightedNames. */
    readonly weightedCumulative: readonly number[],
    readonly weightedTotal: number,
    readonly weightedRequestMutations: readonly HeaderMutation[],
    readonly weightedResponseMutations: readonly HeaderMutation[],
    readonly prefixRewrite: string | null,
    readonly regexRewrite: RegExp | null,
    readonly regexSubstitution: string,
    readonly hostRewrite: string | null,
    readonly autoHostRewrite: boolean,
    /** Route timeout in ms; 0 disables. */
    readonly timeoutMs: number,
    readonly idleTimeoutMs: number,
    readonly retry: RetryConfig | null,
    readonly mirrors: readonly MirrorConfig[],
    readonly hashPolicies: readonly HashPolicyConfig[],
    /** Per-route websocket upgrade override: true, false, or null (listener decides). */
    readonly websocket: boolean | null,
    /** `max_stream_duration.grpc_timeout_header_max`: -1 ignores grpc-timeout, 0 uses it uncapped. */
    readonly grpcTimeoutHeaderMaxMs: number,
    /** Per-route CONNECT override (`upgrade_configs` CONNECT): true, false, or null (the connection manager decides). */
    readonly connect: boolean | null = null,
    /** `connect_config` present: the proxy terminates CONNECT (answers 200 and tunnels to the cluster's host) instead of forwarding it. */
    readonly connectTerminate = false,
  ) {}

  /** The cluster for this request (weighted pick when several). */
  pickCluster(): number {
    if (this.weightedNames.length === 0) return -1;
    const r = Math.random() * this.weightedTotal;
    const c = this.weightedCumulative;
    for (let i = 0; i < c.length; i++) if (r < c[i]) return i;
    return c.length - 1;
  }
}

/** Kinds of route action. */
export const enum ActionKind { Route, Redirect, Direct }

/** One compiled route. */
export class RouteEntry {
  constructor(
    readonly name: string,
    readonly pathKind: PathKind,
    readonly path: string,
    readonly regex: Re2Matcher | null,
    readonly caseSensitive: boolean,
    readonly headers: readonly HeaderMatch[],
    readonly query: readonly QueryMatch[],
    readonly grpcOnly: boolean,
    readonly actionKind: ActionKind,
    readonly action: RouteActionConfig | null,
    readonly redirect: RedirectConfig | null,
    readonly directStatus: number,
    readonly directBody: Buffer | null,
    readonly requestMutation: HeaderMutation,
    readonly responseMutation: HeaderMutation,
    /** Per-route fault override: undefined (use the listener's), null (disabled), or a config. */
    readonly fault: FaultConfig | null | undefined,
    /** Compiled per-route configs of registered filters, by filter name (null: disabled on this route). */
    readonly perFilter: ReadonlyMap<string, unknown> = EMPTY_PER_FILTER,
    /** `dynamic_metadata` matchers (JWT claim routing): the route matches only once authentication has run. */
    readonly metadata: readonly MetadataMatch[] = NO_METADATA,
  ) {}

  /** True when this route matches the request. */
  matches(r: RequestView): boolean {
    const p = this.caseSensitive ? r.path : r.path.toLowerCase();
    switch (this.pathKind) {
      case PathKind.Prefix: if (!p.startsWith(this.path)) return false; break;
      case PathKind.Exact: if (p !== this.path) return false; break;
      case PathKind.SeparatedPrefix:
        if (!p.startsWith(this.path) || (p.length > this.path.length && p.charCodeAt(this.path.length) !== 47)) return false;
        break;
      case PathKind.Connect: if (r.method !== 'CONNECT') return false; break;
      default: if (!this.regex!.test(r.path)) return false;
    }
    if (this.grpcOnly) {
      const ct = r.headers['content-type'];
      if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) return false;
    }
    for (let i = 0; i < this.headers.length; i++) {
      const h = this.headers[i];
      if (!headerMatches(r, h)) return false;
    }
    for (let i = 0; i < this.query.length; i++) {
      const q = this.query[i];
      if (!q.test(queryParam(r, q.name))) return false;
    }
    if (this.metadata.length) {
      const md = r.authz?.metadata;
      for (let i = 0; i < this.metadata.length; i++) if (!this.metadata[i].test(md)) return false;
    }
    return true;
  }
}

const NO_METADATA: readonly MetadataMatch[] = [];

/** One compiled virtual host. */
export class VirtualHostEntry {
  constructor(
    readonly name: string,
    readonly routes: readonly RouteEntry[],
    readonly requestMutation: HeaderMutation,
    readonly responseMutation: HeaderMutation,
    readonly retry: RetryConfig | null,
    readonly includeAttemptCount: boolean,
    /** `require_tls`: 0 none, 1 external only, 2 all — plaintext requests get a 301 to https. */
    readonly requireTls: number = 0,
  ) {
    this.matchesMetadata = routes.some((r) => r.metadata.length > 0);
  }

  /** Some route matches on dynamic metadata: the route is picked again once authentication has run (Envoy's route cache cleared). */
  readonly matchesMetadata: boolean;

  /** First matching route, or null. */
  match(r: RequestView): RouteEntry | null {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i].matches(r)) return routes[i];
    return null;
  }
}

/** A compiled route configuration. */
export class RouteTable {
  constructor(
    readonly name: string,
    readonly version: string,
    readonly virtualHosts: readonly VirtualHostEntry[],
    private readonly exact: ReadonlyMap<string, VirtualHostEntry>,
    /** `*.suffix` (and `*suffix`) domains, longest first: [suffix, vhost]. */
    private readonly suffixes: readonly (readonly [string, VirtualHostEntry])[],
    /** `prefix*` domains, longest first. */
    private readonly prefixes: readonly (readonly [string, VirtualHostEntry])[],
    private readonly star: VirtualHostEntry | null,
    readonly requestMutation: HeaderMutation,
    readonly responseMutation: HeaderMutation,
    private readonly ignorePort: boolean,
  ) {}

  /** Selects the virtual host for an authority: exact, then suffix, then prefix wildcards, then `*`; retried without the port. */
  selectVirtualHost(authority: string): VirtualHostEntry | null {
    const host = authority.toLowerCase();
    const colon = host.lastIndexOf(':');
    const hasPort = colon > 0 && host.indexOf(']', colon) < 0 && host.charCodeAt(host.length - 1) !== 93;
    if (this.ignorePort && hasPort) return this.lookup(host.slice(0, colon));
    return this.lookup(host) ?? (hasPort ? this.lookup(host.slice(0, colon)) : null) ?? this.star;
  }

  private lookup(host: string): VirtualHostEntry | null {
    const e = this.exact.get(host);
    if (e) return e;
    for (const [s, v] of this.suffixes) if (host.length > s.length && host.endsWith(s)) return v;
    for (const [p, v] of this.prefixes) if (host.length > p.length && host.startsWith(p)) return v;
    return null;
  }
}

const RC_FIELDS = fields('name', 'virtual_hosts', 'validate_clusters', 'request_headers_to_add', 'request_headers_to_remove',
  'response_headers_to_add', 'response_headers_to_remove', 'ignore_port_in_host_matching', 'metadata', 'most_specific_header_mutations_wins');
const VH_FIELDS = fields('name', 'domains', 'routes', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add',
  'response_headers_to_remove', 'retry_policy', 'include_request_attempt_count', 'metadata', 'typed_per_filter_config', 'require_tls');
const ROUTE_FIELDS = fields('name', 'match', 'route', 'redirect', 'direct_response', 'request_headers_to_add', 'request_headers_to_remove',
  'response_headers_to_add', 'response_headers_to_remove', 'metadata', 'decorator', 'typed_per_filter_config', 'action');
const MATCH_FIELDS = fields('prefix', 'path', 'safe_regex', 'path_separated_prefix', 'connect_matcher', 'case_sensitive', 'headers', 'query_parameters', 'grpc', 'dynamic_metadata');
const ACTION_FIELDS = fields('cluster', 'weighted_clusters', 'prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal', 'auto_host_rewrite',
  'timeout', 'idle_timeout', 'retry_policy', 'request_mirror_policies', 'hash_policy', 'upgrade_configs', 'max_stream_duration',
  'cluster_not_found_response_code', 'priority');
const REDIRECT_FIELDS = fields('https_redirect', 'scheme_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite',
  'regex_rewrite', 'response_code', 'strip_query');

const REDIRECT_CODES: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

/** Converts RE2 substitution syntax (`\1`) to JS replacement syntax (`$1`). */
function jsSubstitution(s: string): string {
  return s.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
}

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Compiles the `typed_per_filter_config` of a route or virtual host: the fault filter only. */
function compilePerFilter(cfg: Record<string, { type_url: string; value: Buffer }> | undefined, field: string, other: Map<string, unknown> | null = null): FaultConfig | null | undefined {
  let fault: FaultConfig | null | undefined;
  for (const [name, any] of Object.entries(cfg ?? {})) {
    const f = `${field ? `${field}.` : ''}typed_per_filter_config["${name}"]`;
    let inner = any;
    let optional = false;
    if (any.type_url === 'type.googleapis.com/envoy.config.route.v3.FilterConfig') {
      const fc = unpack<Dec>(any);
      optional = !!fc.is_optional;
      if (fc.disabled) {
        if (name === 'envoy.filters.http.fault') fault = null;
        else other?.set(name, null);
        continue;
      }
      inner = fc.config;
    }
    const compile = perRouteCompiler(inner?.type_url);
    if (inner?.type_url === ExtensionTypeUrl.HttpFault) {
      fault = compileFault(unpack<HTTPFault__Output>(inner), f);
    } else if (compile && other) {
      other.set(name, compile(unpack(inner), f));
    } else if (!optional) {
      reject(f, `per-route config of type ${inner?.type_url ?? '(none)'} is not supported`);
    }
  }
  return fault;
}

function compileAction(a: Dec, field: string, vhRetry: RetryConfig | null): RouteActionConfig {
  rejectUnsupported('envoy.config.route.v3.RouteAction', a, ACTION_FIELDS, field);
  if (a.metadata_match) reject(`${field}.metadata_match`, 'subset load balancing is not supported');
  let cluster = '';
  const names: string[] = [];
  const cum: number[] = [];
  const reqM: HeaderMutation[] = [];
  const resM: HeaderMutation[] = [];
  let total = 0;
  if (a.cluster_specifier === 'cluster') {
    cluster = a.cluster;
    if (!cluster) reject(`${field}.cluster`, 'is empty');
  } else if (a.cluster_specifier === 'weighted_clusters') {
    const wc = a.weighted_clusters;
    rejectUnsupported('envoy.config.route.v3.WeightedCluster', wc, fields('clusters', 'total_weight'), `${field}.weighted_clusters`);
    (wc.clusters as Dec[]).forEach((c, i) => {
      const cf = `${field}.weighted_clusters.clusters[${i}]`;
      rejectUnsupported('envoy.config.route.v3.WeightedCluster.ClusterWeight', c, fields('name', 'weight', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove', 'typed_per_filter_config', 'metadata_match', 'cluster_specifier'), cf);
      if (!c.name) reject(`${cf}.name`, 'is empty');
      const w = c.weight?.value ?? 0;
      if (w === 0) return;
      total += w;
      names.push(c.name);
      cum.push(total);
      reqM.push(compileHeaderMutation(c.request_headers_to_add, c.request_headers_to_remove, `${cf}.request_headers`));
      resM.push(compileHeaderMutation(c.response_headers_to_add, c.response_headers_to_remove, `${cf}.response_headers`));
    });
    if (total === 0) reject(`${field}.weighted_clusters`, 'all weights are zero');
  } else {
    reject(`${field}.cluster_specifier`, `"${a.cluster_specifier ?? ''}" is not supported (cluster or weighted_clusters)`);
  }
  let regexRewrite: RegExp | null = null;
  let regexSub = '';
  if (a.regex_rewrite) {
    regexRewrite = new RegExp(compileRegex(a.regex_rewrite.pattern?.regex ?? '', `${field}.regex_rewrite.pattern.regex`).source.slice(4, -2), 'g');
    regexSub = jsSubstitution(a.regex_rewrite.substitution ?? '');
  }
  if (a.host_rewrite_specifier && !['host_rewrite_literal', 'auto_host_rewrite'].includes(a.host_rewrite_specifier)) {
    reject(`${field}.${a.host_rewrite_specifier}`, 'is not supported');
  }
  const retry = a.retry_policy ? compileRetry(a.retry_policy, `${field}.retry_policy`) : vhRetry;
  const mirrors = (a.request_mirror_policies as Dec[] ?? []).map((m, i) => {
    const mf = `${field}.request_mirror_policies[${i}]`;
    rejectUnsupported('envoy.config.route.v3.RouteAction.RequestMirrorPolicy', m, fields('cluster', 'runtime_fraction', 'trace_sampled'), mf);
    if (!m.cluster) reject(`${mf}.cluster`, 'is empty');
    return new MirrorConfig(m.cluster, m.runtime_fraction ? fraction(m.runtime_fraction.default_value) : 1);
  });
  const hashes = (a.hash_policy as Dec[] ?? []).map((h, i) => {
    const hf = `${field}.hash_policy[${i}]`;
    switch (h.policy_specifier) {
      case 'header': return new HashPolicyConfig(HashKind.Header, (h.header.header_name ?? '').toLowerCase(), !!h.terminal, 0, '');
      case 'cookie': return new HashPolicyConfig(HashKind.Cookie, h.cookie.name, !!h.terminal, durationMs(h.cookie.ttl), h.cookie.path ?? '');
      case 'connection_properties':
        if (!h.connection_properties.source_ip) reject(`${hf}.connection_properties.source_ip`, 'must be true');
        return new HashPolicyConfig(HashKind.SourceIp, '', !!h.terminal, 0, '');
      case 'query_parameter': return new HashPolicyConfig(HashKind.QueryParameter, h.query_parameter.name, !!h.terminal, 0, '');
      default: return reject(hf, `hash policy "${h.policy_specifier}" is not supported`);
    }
  });
  let websocket: boolean | null = null;
  let connect: boolean | null = null;
  let connectTerminate = false;
  for (const [i, u] of (a.upgrade_configs as Dec[] ?? []).entries()) {
    const type = (u.upgrade_type ?? '').toLowerCase();
    const on = u.enabled ? u.enabled.value !== false : true;
    if (type === 'websocket') websocket = on;
    else if (type === 'connect') {
      connect = on;
      if (u.connect_config) {
        if (u.connect_config.proxy_protocol_config) reject(`${field}.upgrade_configs[${i}].connect_config.proxy_protocol_config`, 'is not supported');
        if (u.connect_config.allow_post) reject(`${field}.upgrade_configs[${i}].connect_config.allow_post`, 'is not supported');
        connectTerminate = true;
      }
    } else reject(`${field}.upgrade_configs[${i}].upgrade_type`, `"${u.upgrade_type}" is not supported (websocket and CONNECT are)`);
  }
  let grpcMax = -1;
  if (a.max_stream_duration) {
    const m = a.max_stream_duration;
    if (m.grpc_timeout_header_max) grpcMax = durationMs(m.grpc_timeout_header_max);
  }
  // Envoy's default route timeout is 15 s when the field is absent; 0 disables it.
  let timeoutMs = a.timeout ? durationMs(a.timeout) : 15_000;
  // max_stream_duration bounds the whole stream from its start: the earlier deadline wins
  const maxStream = a.max_stream_duration?.max_stream_duration ? durationMs(a.max_stream_duration.max_stream_duration) : 0;
  if (maxStream > 0) timeoutMs = timeoutMs > 0 ? Math.min(timeoutMs, maxStream) : maxStream;
  return new RouteActionConfig(cluster, names, cum, total, reqM, resM, a.prefix_rewrite || null, regexRewrite, regexSub,
    a.host_rewrite_specifier === 'host_rewrite_literal' ? a.host_rewrite_literal : null, !!a.auto_host_rewrite?.value,
    timeoutMs, durationMs(a.idle_timeout), retry, mirrors, hashes, websocket, grpcMax, connect, connectTerminate);
}

function compileRedirect(r: Dec, field: string): RedirectConfig {
  rejectUnsupported('envoy.config.route.v3.RedirectAction', r, REDIRECT_FIELDS, field);
  const status = REDIRECT_CODES[r.response_code ?? 'MOVED_PERMANENTLY'];
  if (!status) reject(`${field}.response_code`, `"${r.response_code}" is not supported`);
  let regex: RegExp | null = null;
  if (r.regex_rewrite) regex = new RegExp(compileRegex(r.regex_rewrite.pattern?.regex ?? '', `${field}.regex_rewrite.pattern.regex`).source.slice(4, -2), 'g');
  return new RedirectConfig(r.https_redirect ? 'https' : (r.scheme_redirect ?? ''), r.host_redirect ?? '', r.port_redirect ?? 0,
    r.path_rewrite_specifier === 'path_redirect' ? r.path_redirect : null, r.path_rewrite_specifier === 'prefix_rewrite' ? r.prefix_rewrite : null,
    regex, r.regex_rewrite ? jsSubstitution(r.regex_rewrite.substitution ?? '') : '', status, !!r.strip_query);
}

function compileRoute(r: Dec, field: string, vhRetry: RetryConfig | null): RouteEntry {
  rejectUnsupported('envoy.config.route.v3.Route', r, ROUTE_FIELDS, field);
  const perFilter = new Map<string, unknown>();
  const m = r.match;
  if (!m) reject(`${field}.match`, 'is required');
  rejectUnsupported('envoy.config.route.v3.RouteMatch', m, MATCH_FIELDS, `${field}.match`);
  const caseSensitive = m.case_sensitive ? m.case_sensitive.value !== false : true;
  let kind: PathKind;
  let path = '';
  let regex: Re2Matcher | null = null;
  switch (m.path_specifier) {
    case 'prefix': kind = PathKind.Prefix; path = m.prefix; break;
    case 'path': kind = PathKind.Exact; path = m.path; break;
    case 'path_separated_prefix': kind = PathKind.SeparatedPrefix; path = m.path_separated_prefix; break;
    case 'safe_regex': kind = PathKind.Regex; regex = compileRegex(m.safe_regex?.regex ?? '', `${field}.match.safe_regex.regex`, caseSensitive ? '' : 'i'); break;
    case 'connect_matcher': kind = PathKind.Connect; break;
    default: return reject(`${field}.match.path_specifier`, `"${m.path_specifier ?? ''}" is not supported`);
  }
  if (!caseSensitive) path = path.toLowerCase();
  const headers = (m.headers as Dec[]).map((h, i) => compileHeaderMatcher(h as never, `${field}.match.headers[${i}]`));
  const query = (m.query_parameters as Dec[]).map((q, i) => compileQueryMatcher(q as never, `${field}.match.query_parameters[${i}]`));
  const metadata = ((m.dynamic_metadata ?? []) as Dec[]).map((d, i) => compileMetadataMatcher(d, `${field}.match.dynamic_metadata[${i}]`));
  let actionKind: ActionKind;
  let action: RouteActionConfig | null = null;
  let redirect: RedirectConfig | null = null;
  let directStatus = 0;
  let directBody: Buffer | null = null;
  switch (r.action) {
    case 'route': actionKind = ActionKind.Route; action = compileAction(r.route, `${field}.route`, vhRetry); break;
    case 'redirect': actionKind = ActionKind.Redirect; redirect = compileRedirect(r.redirect, `${field}.redirect`); break;
    case 'direct_response': {
      actionKind = ActionKind.Direct;
      directStatus = r.direct_response.status;
      if (directStatus < 200 || directStatus >= 600) reject(`${field}.direct_response.status`, `${directStatus} is not in [200, 600)`);
      const b = r.direct_response.body;
      if (b) {
        if (b.specifier === 'inline_string') directBody = Buffer.from(b.inline_string);
        else if (b.specifier === 'inline_bytes') directBody = Buffer.from(b.inline_bytes);
        else reject(`${field}.direct_response.body`, `"${b.specifier}" is not supported (inline only)`);
      }
      break;
    }
    default: return reject(`${field}.action`, `"${r.action ?? ''}" is not supported`);
  }
  return new RouteEntry(r.name ?? '', kind, path, regex, caseSensitive, headers, query, !!m.grpc, actionKind, action, redirect, directStatus, directBody,
    compileHeaderMutation(r.request_headers_to_add, r.request_headers_to_remove, `${field}.request_headers`),
    compileHeaderMutation(r.response_headers_to_add, r.response_headers_to_remove, `${field}.response_headers`),
    compilePerFilter(r.typed_per_filter_config, field, perFilter), perFilter.size ? perFilter : EMPTY_PER_FILTER, metadata.length ? metadata : NO_METADATA);
}

/** One compiled virtual host with its domains (what a route table is assembled from). */
export interface CompiledVirtualHost {
  readonly entry: VirtualHostEntry;
  readonly domains: readonly string[];
}

/** Compiles one VirtualHost; throws ConfigError naming the field (under `path`) it cannot apply. */
export function compileVirtualHost(vh: Dec | VirtualHost__Output, path: string): CompiledVirtualHost {
  const v = vh as Dec;
  const vf = path;
  const at = (f: string) => (vf ? `${vf}.${f}` : f);
  rejectUnsupported('envoy.config.route.v3.VirtualHost', v, VH_FIELDS, vf);
  const retry = v.retry_policy ? compileRetry(v.retry_policy, at('retry_policy')) : null;
  const vhFault = compilePerFilter(v.typed_per_filter_config, vf);
  const routes = (v.routes as Dec[]).map((r, ri) => {
    const e = compileRoute(r, at(`routes[${ri}]`), retry);
    if (e.fault === undefined && vhFault !== undefined) return new RouteEntry(e.name, e.pathKind, e.path, e.regex, e.caseSensitive, e.headers, e.query, e.grpcOnly, e.actionKind, e.action, e.redirect, e.directStatus, e.directBody, e.requestMutation, e.responseMutation, vhFault, e.perFilter, e.metadata);
    return e;
  });
  const entry = new VirtualHostEntry(v.name ?? '', routes,
    compileHeaderMutation(v.request_headers_to_add, v.request_headers_to_remove, at('request_headers')),
    compileHeaderMutation(v.response_headers_to_add, v.response_headers_to_remove, at('response_headers')),
    retry, !!v.include_request_attempt_count, v.require_tls === 'ALL' ? 2 : v.require_tls === 'EXTERNAL_ONLY' ? 1 : 0);
  for (const [di, d0] of (v.domains as string[]).entries()) {
    const d = d0.toLowerCase();
    if (d !== '*' && !d.startsWith('*') && !d.endsWith('*') && d.includes('*')) reject(at(`domains[${di}]`), `wildcard in the middle of "${d0}" is not allowed`);
  }
  return { entry, domains: v.domains as string[] };
}

/**
 * Assembles a route table from its RouteConfiguration's own fields and compiled virtual hosts
 * (`pathOf(i)` names the i-th in errors). A domain used by two virtual hosts is refused.
 */
function assembleRouteTable(raw: Dec, hosts: readonly CompiledVirtualHost[], version: string, pathOf: (i: number) => string): RouteTable {
  const exact = new Map<string, VirtualHostEntry>();
  const suffixes: [string, VirtualHostEntry][] = [];
  const prefixes: [string, VirtualHostEntry][] = [];
  let star: VirtualHostEntry | null = null;
  const seen = new Set<string>();
  for (const [vi, { entry, domains }] of hosts.entries()) {
    for (const [di, d0] of domains.entries()) {
      const d = d0.toLowerCase();
      const vf = pathOf(vi);
      if (seen.has(d)) reject(`${vf ? `${vf}.` : ''}domains[${di}]`, `domain "${d0}" is already used by another virtual host`);
      seen.add(d);
      if (d === '*') star = entry;
      else if (d.startsWith('*')) suffixes.push([d.slice(1), entry]);
      else if (d.endsWith('*')) prefixes.push([d.slice(0, -1), entry]);
      else exact.set(d, entry);
    }
  }
  suffixes.sort((a, b) => b[0].length - a[0].length);
  prefixes.sort((a, b) => b[0].length - a[0].length);
  return new RouteTable(raw.name, version, hosts.map((h) => h.entry), exact, suffixes, prefixes, star,
    compileHeaderMutation(raw.request_headers_to_add, raw.request_headers_to_remove, 'request_headers'),
    compileHeaderMutation(raw.response_headers_to_add, raw.response_headers_to_remove, 'response_headers'),
    !!raw.ignore_port_in_host_matching);
}

/** Compiles a RouteConfiguration; throws ConfigError naming the field it cannot apply. */
export function compileRouteTable(rc: RouteConfiguration__Output, version: string): RouteTable {
  const raw = rc as unknown as Dec;
  rejectUnsupported('envoy.config.route.v3.RouteConfiguration', raw, RC_FIELDS, '');
  const hosts = (raw.virtual_hosts as Dec[]).map((vh, vi) => compileVirtualHost(vh, `virtual_hosts[${vi}]`));
  return assembleRouteTable(raw, hosts, version, (i) => `virtual_hosts[${i}]`);
}

/**
 * Assembles a route table whose RouteConfiguration carries `vhds`: its own fields plus the VHDS
 * virtual hosts, compiled one by one as they arrive (by resource name; the virtual host picked for
 * a host does not depend on order). A domain used twice is refused naming the resource.
 */
export function compileVhdsRouteTable(header: RouteConfiguration__Output, hosts: ReadonlyMap<string, CompiledVirtualHost> | undefined, version: string): RouteTable {
  const raw = { ...(header as unknown as Dec), vhds: null, virtual_hosts: [] } as Dec;
  rejectUnsupported('envoy.config.route.v3.RouteConfiguration', raw, RC_FIELDS, '');
  const names = hosts ? [...hosts.keys()].sort() : [];
  return assembleRouteTable(raw, names.map((n) => hosts!.get(n)!), version, (i) => `virtual host "${names[i]}"`);
}

/** Cluster names a route table can send to (for validate_clusters). */
export function referencedClusters(t: RouteTable): Set<string> {
  const out = new Set<string>();
  for (const vh of t.virtualHosts) {
    for (const r of vh.routes) {
      if (!r.action) continue;
      if (r.action.cluster) out.add(r.action.cluster);
      for (const n of r.action.weightedNames) out.add(n);
      for (const m of r.action.mirrors) out.add(m.cluster);
    }
  }
  return out;
}
