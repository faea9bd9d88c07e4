/**
 * Envoy's v3 API, from the protos shipped inside `@grpc/grpc-js-xds` (deps/envoy-api, deps/xds,
 * deps/googleapis, deps/protoc-gen-validate). Nothing is copied into this repository.
 *
 * `ENVOY_PROTO_FILES` is the one list of what tsmesh speaks: at build time
 * `scripts/generate-protos.mjs` generates static code for every message of these files (and the
 * types they reach), which encodes and decodes xDS at run time. The reflection root below loads
 * the same files with protobufjs' parser; it serves `checkShape` (field-by-field checks before
 * encoding, used by the control plane), tools that want descriptors, and any type outside the
 * generated set. It is loaded on first use only, so a proxy that only decodes never loads it.
 */
import type protobuf from 'protobufjs';
import { createRequire } from 'node:module';
import { accessSync, constants } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Proto files (relative to the include dirs) that define every type tsmesh speaks. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/service/status/v3/csds.proto',
  'google/rpc/status.proto',
];

/** The include directories inside the `@grpc/grpc-js-xds` package. */
export function envoyIncludeDirs(): string[] {
  const pkg = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(pkg, 'deps', d));
}

let cached: protobuf.Root | undefined;

/** Full protobufjs (parser and reflection), required on first use rather than at start. */
function protobufjs(): typeof protobuf {
  return require('protobufjs') as typeof protobuf;
}

function addWellKnownProtos(pb: typeof protobuf): void {
  // protobufjs exposes any, duration, empty, field_mask, struct, timestamp and wrappers itself;
  // descriptor.proto (used by validate and annotations) ships with it as JSON.
  const descriptor = require('protobufjs/google/protobuf/descriptor.json') as {
    nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
  };
  pb.common('descriptor', descriptor.nested.google.nested.protobuf.nested as Record<string, protobuf.AnyNestedObject>);
}

/** Loads (once) and returns the protobufjs root holding Envoy's v3 API, with field names kept as in the .proto files. */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const pb = protobufjs();
  addWellKnownProtos(pb);
  const includeDirs = envoyIncludeDirs();
  const root = new pb.Root();
  const original = root.resolvePath.bind(root);
  root.resolvePath = (origin: string, target: string): string => {
    if (isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const full = join(dir, target);
      try {
        accessSync(full, constants.R_OK);
        return full;
      } catch {
        // try the next include dir
      }
    }
    return original(origin, target) ?? target;
  };
  root.loadSync(ENVOY_PROTO_FILES as string[], { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

/** True once the reflection root has been loaded (a proxy that only decodes never loads it). */
export function reflectionLoaded(): boolean {
  return cached !== undefined;
}

/** Looks up a message type by its full name (`envoy.config.listener.v3.Listener`). */
export function messageType(fullName: string): protobuf.Type {
  return envoyRoot().lookupType(fullName);
}
