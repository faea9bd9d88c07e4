/** Small shared builders: addresses, durations, config sources, header values. */
import type { Address, ConfigSource, HeaderValueOption } from '../types';

/** `google.protobuf.Duration` from milliseconds. */
export function duration(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Milliseconds from a decoded `google.protobuf.Duration` (seconds may be a string). */
export function durationMs(d: { seconds?: string | number | null; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
}

/** `envoy.config.core.v3.Address` for a TCP socket address. */
export function socketAddress(address: string, port: number): Address {
  return { socket_address: { address, port_value: port, protocol: 'TCP' } };
}

/** `ConfigSource` that points at the ADS stream (`ads: {}`), the way Istio configures its proxies. */
export function adsConfigSource(): ConfigSource {
  return { ads: {}, resource_api_version: 'V3' };
}

/** `HeaderValueOption` list from a plain record; `append` false overwrites (OVERWRITE_IF_EXISTS_OR_ADD). */
export function headerValues(headers: Record<string, string>, append = false): HeaderValueOption[] {
  return Object.entries(headers).map(([key, value]) => ({
    header: { key, value },
    append_action: append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD',
  }));
}
