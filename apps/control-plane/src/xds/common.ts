/** Helpers shared by the translators. */
import { duration } from '@tsmesh/xds';
import { parseDurationMs, type Percent } from '@tsmesh/mesh-config';

/** `google.protobuf.Duration` from an Istio duration string (`5s`, `100ms`). */
export function durationOf(text: string | undefined): { seconds: number; nanos: number } | undefined {
  if (!text) return undefined;
  const ms = parseDurationMs(text);
  return Number.isNaN(ms) ? undefined : duration(ms);
}

/** Envoy `FractionalPercent` (per million) from an Istio percentage (0-100, may be fractional). */
export function fractionOf(p: Percent | undefined, legacyPercent?: number): { numerator: number; denominator: 'MILLION' } {
  const value = p?.value ?? legacyPercent ?? 100;
  return { numerator: Math.round(value * 10_000), denominator: 'MILLION' };
}

/** `spiffe://<trust domain>/ns/<ns>/sa/<sa>`. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** ALPN offered by sidecars on Istio mTLS connections (the inbound side matches on it). */
export const ISTIO_ALPN = ['istio-peer-exchange', 'istio'];

/** Names of the SDS secrets of a workload (see ARCHITECTURE.md). */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';

/** Cluster names that are not Istio `direction|port|subset|host` names. */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** Istio's inbound passthrough: original destination, sourced from 127.0.0.6 so the capture rules let it through. */
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughClusterIpv4';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';

/** Sorts by a string key (stable, locale-free) so generated output is deterministic. */
export function sortBy<T>(list: T[], key: (t: T) => string): T[] {
  return list.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
