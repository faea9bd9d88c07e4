/** Builders for SDS `Secret`s and the TLS contexts that reference them. */
import type { CommonTlsContext, DownstreamTlsContext, Secret, UpstreamTlsContext } from '../types';
import { adsConfigSource } from './common';

/** A TLS certificate secret (`tls_certificate`: chain and key, inline PEM). */
export function tlsCertificateSecret(name: string, certChainPem: string, privateKeyPem: string): Secret {
  return { name, tls_certificate: { certificate_chain: { inline_string: certChainPem }, private_key: { inline_string: privateKeyPem } } };
}

/**
 * A validation context secret (`validation_context`): trusted CA bundle and, optionally, the
 * SPIFFE IDs a peer must present (`match_typed_subject_alt_names` on URI SANs).
 */
export function validationContextSecret(name: string, trustedCaPem: string, spiffeIds: string[] = []): Secret {
  return {
    name,
    validation_context: {
      trusted_ca: { inline_string: trustedCaPem },
      ...(spiffeIds.length ? { match_typed_subject_alt_names: spiffeIds.map((id) => ({ san_type: 'URI' as const, matcher: { exact: id } })) } : {}),
    },
  };
}

/** A `CommonTlsContext` whose certificate and validation context come over SDS (ADS), the way Istio wires workload certs. */
export function sdsCommonTlsContext(o: { certSecret: string; validationSecret?: string; alpn?: string[]; spiffeIds?: string[] }): CommonTlsContext {
  const ctx: CommonTlsContext = {
    tls_certificate_sds_secret_configs: [{ name: o.certSecret, sds_config: adsConfigSource() }],
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
  };
  if (o.alpn?.length) ctx.alpn_protocols = o.alpn;
  if (o.validationSecret) {
    ctx.combined_validation_context = {
      default_validation_context: o.spiffeIds?.length
        ? { match_typed_subject_alt_names: o.spiffeIds.map((id) => ({ san_type: 'URI' as const, matcher: { exact: id } })) }
        : {},
      validation_context_sds_secret_config: { name: o.validationSecret, sds_config: adsConfigSource() },
    };
  }
  return ctx;
}

/** `UpstreamTlsContext` (client side) with SNI. */
export function upstreamTlsContext(common: CommonTlsContext, sni?: string): UpstreamTlsContext {
  return { common_tls_context: common, ...(sni ? { sni } : {}) };
}

/** `DownstreamTlsContext` (server side); `requireClientCertificate` for mutual TLS. */
export function downstreamTlsContext(common: CommonTlsContext, requireClientCertificate: boolean): DownstreamTlsContext {
  return { common_tls_context: common, require_client_certificate: { value: requireClientCertificate } };
}
