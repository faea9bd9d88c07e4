/**
 * Envoy's response flags: why a request ended the way it did, from the failure kinds of the
 * request path. Kept as a bit set on the exchange; formatted once, as Envoy's `%RESPONSE_FLAGS%`
 * does (comma-separated, `-` when none), for the metrics' `response_flags` label and the access log.
 */
export const enum RF {
  None = 0,
  /** DC: downstream connection termination. */
  DownstreamConnectionTermination = 1 << 0,
  /** DI: the request was delayed by fault injection. */
  DelayInjected = 1 << 1,
  /** DPE: downstream protocol error. */
  DownstreamProtocolError = 1 << 2,
  /** FI: the request was aborted by fault injection. */
  FaultInjected = 1 << 3,
  /** LR: connection local reset. */
  LocalReset = 1 << 4,
  /** NC: no cluster found for the route. */
  NoClusterFound = 1 << 5,
  /** NR: no route. */
  NoRouteFound = 1 << 6,
  /** RL: rate limited locally. */
  RateLimited = 1 << 7,
  /** SI: stream idle timeout. */
  StreamIdleTimeout = 1 << 8,
  /** UAEX: refused by an authorization service (RBAC / JWT here). */
  UnauthorizedExternalService = 1 << 9,
  /** UC: upstream connection termination. */
  UpstreamConnectionTermination = 1 << 10,
  /** UF: upstream connection failure. */
  UpstreamConnectionFailure = 1 << 11,
  /** UH: no healthy upstream host. */
  NoHealthyUpstream = 1 << 12,
  /** UO: upstream overflow (circuit breaking). */
  UpstreamOverflow = 1 << 13,
  /** UPE: upstream protocol error. */
  UpstreamProtocolError = 1 << 14,
  /** UR: upstream remote reset (refused stream). */
  UpstreamRemoteReset = 1 << 15,
  /** URX: the retry limit was reached. */
  UpstreamRetryLimitExceeded = 1 << 16,
  /** UT: upstream request timeout. */
  UpstreamRequestTimeout = 1 << 17,
}

/** Envoy's short names, in its formatting order. */
const NAMES: readonly [number, string][] = [
  [RF.DownstreamConnectionTermination, 'DC'],
  [RF.DelayInjected, 'DI'],
  [RF.DownstreamProtocolError, 'DPE'],
  [RF.FaultInjected, 'FI'],
  [RF.LocalReset, 'LR'],
  [RF.NoClusterFound, 'NC'],
  [RF.NoRouteFound, 'NR'],
  [RF.RateLimited, 'RL'],
  [RF.StreamIdleTimeout, 'SI'],
  [RF.UnauthorizedExternalService, 'UAEX'],
  [RF.UpstreamConnectionTermination, 'UC'],
  [RF.UpstreamConnectionFailure, 'UF'],
  [RF.NoHealthyUpstream, 'UH'],
  [RF.UpstreamOverflow, 'UO'],
  [RF.UpstreamProtocolError, 'UPE'],
  [RF.UpstreamRemoteReset, 'UR'],
  [RF.UpstreamRetryLimitExceeded, 'URX'],
  [RF.UpstreamRequestTimeout, 'UT'],
];

const cache = new Map<number, string>();

/** `%RESPONSE_FLAGS%` for a bit set ('-' when empty); each combination is formatted once. */
export function formatResponseFlags(flags: number): string {
  if (flags === 0) return '-';
  let s = cache.get(flags);
  if (s !== undefined) return s;
  s = '';
  for (const [bit, name] of NAMES) if ((flags & bit) !== 0) s = s ? `${s},${name}` : name;
  cache.set(flags, s);
  return s;
}
