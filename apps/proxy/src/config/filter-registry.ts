/**
 * Extension points for filters implemented outside the core data path (authz, rate limiting,
 * telemetry): HTTP filters become `(next) => handler` layers of a connection manager, network
 * filters run on each accepted connection before the terminal filter, and per-route configs are
 * compiled with the route table. A pushed filter with no registered implementation is NACKed.
 */
import type net from 'node:net';
import type { Layer } from '../http/filters';
import type { ConnInfo } from '../context';

/** What an HTTP filter sees of its connection manager. */
export interface HcmFacts {
  statPrefix: string;
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
}

/** Compiles an HTTP filter's typed_config into a layer; throws ConfigError to NACK. */
export type HttpFilterCompiler = (config: Record<string, unknown>, field: string, hcm: HcmFacts, filterName: string) => Layer;

/** A network filter: returns false to close the connection. */
export interface NetworkFilter {
  accept(socket: net.Socket, conn: ConnInfo): boolean;
}

/** Compiles a network filter's typed_config; throws ConfigError to NACK. */
export type NetworkFilterCompiler = (config: Record<string, unknown>, field: string) => NetworkFilter;

/** Compiles a per-route (`typed_per_filter_config`) config; the result is what the filter reads from the route. */
export type PerRouteCompiler = (config: Record<string, unknown>, field: string) => unknown;

const http = new Map<string, HttpFilterCompiler>();
const network = new Map<string, NetworkFilterCompiler>();
const perRoute = new Map<string, PerRouteCompiler>();

/** Registers an HTTP filter by its typed_config type URL. */
export function registerHttpFilter(typeUrl: string, compile: HttpFilterCompiler): void {
  http.set(typeUrl, compile);
}

/** Registers a network filter by its typed_config type URL. */
export function registerNetworkFilter(typeUrl: string, compile: NetworkFilterCompiler): void {
  network.set(typeUrl, compile);
}

/** Registers a per-route config type (for `typed_per_filter_config`). */
export function registerPerRouteConfig(typeUrl: string, compile: PerRouteCompiler): void {
  perRoute.set(typeUrl, compile);
}

/** @internal */
export function httpFilterCompiler(typeUrl: string | undefined): HttpFilterCompiler | undefined {
  return typeUrl ? http.get(typeUrl) : undefined;
}

/** @internal */
export function networkFilterCompiler(typeUrl: string | undefined): NetworkFilterCompiler | undefined {
  return typeUrl ? network.get(typeUrl) : undefined;
}

/** @internal */
export function perRouteCompiler(typeUrl: string | undefined): PerRouteCompiler | undefined {
  return typeUrl ? perRoute.get(typeUrl) : undefined;
}

/** Type URLs of the registered HTTP filters (for checks against what the control plane expects the proxy to run). */
export function registeredHttpFilterTypes(): string[] {
  return [...http.keys()];
}

/** Type URLs of the registered network filters. */
export function registeredNetworkFilterTypes(): string[] {
  return [...network.keys()];
}
