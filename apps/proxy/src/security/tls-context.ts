/**
 * Envoy's TLS transport socket (`envoy.transport_sockets.tls`): `UpstreamTlsContext` for
 * clusters (Istio's ISTIO_MUTUAL / auto mTLS and DestinationRule SIMPLE/MUTUAL) and
 * `DownstreamTlsContext` for filter chains (sidecar inbound mTLS, gateway SIMPLE/MUTUAL).
 * Certificates and trust bundles come from the {@link SecretStore} by SDS name (or inline); a
 * Node secure context is built once per secret version and rebuilt when a secret changes, so
 * rotation reaches new connections with no restart and open connections keep theirs.
 */
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { reject } from '../config/errors';
import { fields, rejectUnsupported } from '../config/fields';
import { PeerCertificateError, PeerIdentityError, SecretNotReadyError } from './errors';
import { describePeer, kPeerIdentity, parseBundle, peerChain, verifyPeerChain, type PeerIdentity } from './peer';
import { compileSanMatchers, describeMatchers, parseSubjectAltName, sansMatch, type SanMatcher } from './san';
import type { SecretStore, TlsCertificateSecret, ValidationSecret } from './secrets';

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The parts of `CommonTlsContext` the proxy implements. */
export interface CommonTlsSpec {
  certSecret: string | null;
  inlineCert: TlsCertificateSecret | null;
  validationSecret: string | null;
  inlineValidation: ValidationSecret | null;
  /** SANs from `default_validation_context` (merged with the SDS validation secret's). */
  defaultSans: SanMatcher[];
  alpn: string[];
  minVersion: tls.SecureVersion | undefined;
  maxVersion: tls.SecureVersion | undefined;
  ciphers: string | undefined;
  ecdhCurve: string | undefined;
}

const COMMON_FIELDS = fields('tls_params', 'tls_certificates', 'tls_certificate_sds_secret_configs', 'validation_context', 'validation_context_sds_secret_config',
  'combined_validation_context', 'alpn_protocols', 'validation_context_type');
const VALIDATION_FIELDS = fields('trusted_ca', 'match_typed_subject_alt_names', 'match_subject_alt_names', 'ca_certificate_provider_instance');
const VERSIONS: Record<string, tls.SecureVersion | undefined> = { TLS_AUTO: undefined, TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3' };

function pem(d: Dec | null | undefined, field: string): string {
  if (!d) return reject(field, 'is missing');
  if (d.specifier === 'inline_string' || (!d.specifier && d.inline_string)) return d.inline_string as string;
  if (d.specifier === 'inline_bytes') return Buffer.from(d.inline_bytes as Uint8Array).toString('utf8');
  if (d.specifier === 'filename' || (!d.specifier && d.filename)) {
    // Files named by the control plane (the system roots, a DestinationRule's caCertificates or
    // client certificate), read when the config is applied: a missing file NACKs the update.
    try {
      return readFileSync(d.filename as string, 'utf8');
    } catch (err) {
      return reject(field, `cannot read "${String(d.filename)}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return reject(field, `data source "${d.specifier ?? ''}" is not supported (inline_string, inline_bytes or filename)`);
}

function sdsName(c: Dec, field: string): string {
  if (!c.name) reject(`${field}.name`, 'is empty');
  const src = c.sds_config;
  if (src && src.config_source_specifier && src.config_source_specifier !== 'ads') reject(`${field}.sds_config`, 'only ADS (or the local agent) serves secrets');
  return c.name as string;
}

function compileValidation(v: Dec, field: string): ValidationSecret | null {
  rejectUnsupported('envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext', v, VALIDATION_FIELDS, field);
  const sans = compileSanMatchers(v, field);
  if (!v.trusted_ca) return sans.length ? { kind: 'validation_context', trustedCaPem: '', sans } : null;
  return { kind: 'validation_context', trustedCaPem: pem(v.trusted_ca, `${field}.trusted_ca`), sans };
}

/** Compiles a decoded `CommonTlsContext`. */
export function compileCommonTls(c: Dec | null | undefined, field: string): CommonTlsSpec {
  const spec: CommonTlsSpec = {
    certSecret: null, inlineCert: null, validationSecret: null, inlineValidation: null, defaultSans: [], alpn: [],
    minVersion: undefined, maxVersion: undefined, ciphers: undefined, ecdhCurve: undefined,
  };
  if (!c) return spec;
  rejectUnsupported('envoy.extensions.transport_sockets.tls.v3.CommonTlsContext', c, COMMON_FIELDS, field);
  const p = c.tls_params as Dec | null;
  if (p) {
    spec.minVersion = VERSIONS[p.tls_minimum_protocol_version ?? 'TLS_AUTO'];
    spec.maxVersion = VERSIONS[p.tls_maximum_protocol_version ?? 'TLS_AUTO'];
    if (p.cipher_suites?.length) spec.ciphers = (p.cipher_suites as string[]).join(':');
    if (p.ecdh_curves?.length) spec.ecdhCurve = (p.ecdh_curves as string[]).join(':');
  }
  const certs = (c.tls_certificates ?? []) as Dec[];
  const sds = (c.tls_certificate_sds_secret_configs ?? []) as Dec[];
  if (certs.length + sds.length > 1) reject(`${field}.tls_certificates`, 'more than one certificate per context is not supported');
  if (certs.length) {
    spec.inlineCert = { kind: 'tls_certificate', chainPem: pem(certs[0].certificate_chain, `${field}.tls_certificates[0].certificate_chain`), keyPem: pem(certs[0].private_key, `${field}.tls_certificates[0].private_key`) };
  }
  if (sds.length) spec.certSecret = sdsName(sds[0], `${field}.tls_certificate_sds_secret_configs[0]`);
  switch (c.validation_context_type) {
    case 'validation_context':
      spec.inlineValidation = compileValidation(c.validation_context, `${field}.validation_context`);
      break;
    case 'validation_context_sds_secret_config':
      spec.validationSecret = sdsName(c.validation_context_sds_secret_config, `${field}.validation_context_sds_secret_config`);
      break;
    case 'combined_validation_context': {
      const cv = c.combined_validation_context as Dec;
      const d = cv.default_validation_context ? compileValidation(cv.default_validation_context, `${field}.combined_validation_context.default_validation_context`) : null;
      if (d?.trustedCaPem) spec.inlineValidation = d;
      spec.defaultSans = d?.sans.slice() ?? [];
      spec.validationSecret = sdsName(cv.validation_context_sds_secret_config ?? {}, `${field}.combined_validation_context.validation_context_sds_secret_config`);
      break;
    }
    case undefined:
    case null:
    case '':
      break;
    default:
      reject(`${field}.validation_context_type`, `"${c.validation_context_type}" is not supported`);
  }
  spec.alpn = (c.alpn_protocols ?? []) as string[];
  return spec;
}

/** Certificate, trust bundle and SAN matchers in force for one context, rebuilt per secret version. */
export interface TlsMaterial {
  context: tls.SecureContext;
  /** Parsed trust bundle, or null when the peer is not verified. */
  roots: X509Certificate[] | null;
  sans: SanMatcher[];
  /** Secret versions this was built from. */
  key: string;
}

/** Resolves a {@link CommonTlsSpec} against the secret store, caching the secure context by secret versions. */
export class TlsMaterialSource {
  private cached: TlsMaterial | null = null;
  constructor(private readonly store: SecretStore, readonly spec: CommonTlsSpec) {}

  /** Secret names this context depends on. */
  secretNames(): string[] {
    return [this.spec.certSecret, this.spec.validationSecret].filter((x): x is string => !!x);
  }

  /** The material for a new connection; throws SecretNotReadyError when a secret is missing. */
  current(): TlsMaterial {
    const s = this.spec;
    const cert = s.certSecret ? this.store.get(s.certSecret) : undefined;
    const val = s.validationSecret ? this.store.get(s.validationSecret) : undefined;
    if (s.certSecret && !cert) throw new SecretNotReadyError(s.certSecret);
    if (s.validationSecret && !val) throw new SecretNotReadyError(s.validationSecret);
    const key = `${cert?.version ?? 0}:${val?.version ?? 0}`;
    if (this.cached && this.cached.key === key) return this.cached;
    const c = cert?.value ?? s.inlineCert;
    if (c && c.kind !== 'tls_certificate') throw new SecretNotReadyError(`${s.certSecret} (not a certificate)`);
    const v = val?.value ?? s.inlineValidation;
    if (v && v.kind !== 'validation_context') throw new SecretNotReadyError(`${s.validationSecret} (not a validation context)`);
    const ca = v?.trustedCaPem || undefined;
    const context = tls.createSecureContext({
      ...(c ? { key: c.keyPem, cert: c.chainPem } : {}),
      ...(ca ? { ca } : {}),
      ...(s.minVersion ? { minVersion: s.minVersion } : {}),
      ...(s.maxVersion ? { maxVersion: s.maxVersion } : {}),
      ...(s.ciphers ? { ciphers: s.ciphers } : {}),
      ...(s.ecdhCurve ? { ecdhCurve: s.ecdhCurve } : {}),
    });
    this.cached = { context, roots: ca ? parseBundle(ca) : null, sans: [...s.defaultSans, ...(v?.sans ?? [])], key };
    return this.cached;
  }
}

const UPSTREAM_FIELDS = fields('common_tls_context', 'sni', 'allow_renegotiation', 'max_session_keys', 'auto_host_sni', 'auto_sni_san_validation');
const DOWNSTREAM_FIELDS = fields('common_tls_context', 'require_client_certificate', 'require_sni', 'session_timeout', 'disable_stateless_session_resumption',
  'session_ticket_keys_type', 'full_scan_certs_on_sni_mismatch', 'ocsp_staple_policy');

function checkServerIdentity(matchers: readonly SanMatcher[]): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    if (sansMatch(matchers, parseSubjectAltName(cert.subjectaltname))) return undefined;
    return new PeerIdentityError(cert.subjectaltname ?? '', describeMatchers(matchers));
  };
}
const acceptAnyName = (): undefined => undefined;

/** Client-side TLS of a cluster (Envoy `UpstreamTlsContext`). */
export class UpstreamTls {
  readonly kind = 'tls';
  readonly sni: string;
  readonly alpn: readonly string[];
  private readonly material: TlsMaterialSource;

  constructor(store: SecretStore, ctx: Dec, field = 'typed_config') {
    rejectUnsupported('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', ctx, UPSTREAM_FIELDS, field);
    this.sni = (ctx.sni as string) ?? '';
    const common = compileCommonTls(ctx.common_tls_context, `${field}.common_tls_context`);
    this.alpn = common.alpn;
    this.material = new TlsMaterialSource(store, common);
  }

  /** SDS secrets this context needs. */
  secretNames(): string[] {
    return this.material.secretNames();
  }

  /**
   * Options for `tls.connect` (the upstream pools' connectors): the current secure context, SNI, ALPN
   * (the context's list, e.g. Istio's `istio-peer-exchange`/`istio`, then `appProtocols` such as
   * `h2` or `http/1.1`), chain verification against the trust bundle and the SAN check against the
   * identities the control plane lists. Throws SecretNotReadyError while secrets are missing.
   */
  connectOptions(appProtocols: readonly string[] = []): tls.ConnectionOptions {
    const m = this.material.current();
    const alpn = [...this.alpn, ...appProtocols.filter((p) => !this.alpn.includes(p))];
    return {
      secureContext: m.context,
      ...(this.sni ? { servername: this.sni } : {}),
      ...(alpn.length ? { ALPNProtocols: alpn } : {}),
      rejectUnauthorized: m.roots !== null,
      checkServerIdentity: m.roots !== null && m.sans.length ? checkServerIdentity(m.sans) : acceptAnyName,
    };
  }

  /** Connects over TLS to `host:port` (or over `socket`), resolving once the handshake and checks pass. */
  connect(o: { host: string; port: number; socket?: net.Socket; appProtocols?: readonly string[] }): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      let opts: tls.ConnectionOptions;
      try {
        opts = this.connectOptions(o.appProtocols);
      } catch (err) {
        reject(err);
        return;
      }
      const s = tls.connect({ ...opts, host: o.host, port: o.port, ...(o.socket ? { socket: o.socket } : {}) });
      const onError = (err: Error) => reject(err);
      s.once('error', onError);
      s.once('secureConnect', () => {
        s.removeListener('error', onError);
        // getPeerX509Certificate() would make later getPeerCertificate() calls come back empty.
        const raw = s.getPeerCertificate().raw;
        (s as unknown as { [kPeerIdentity]: PeerIdentity })[kPeerIdentity] = describePeer(s, raw ? new X509Certificate(raw) : undefined);
        resolve(s);
      });
    });
  }
}

/** Server-side TLS of a filter chain (Envoy `DownstreamTlsContext`). */
export class DownstreamTls {
  readonly kind = 'tls';
  readonly requireClientCertificate: boolean;
  readonly alpn: readonly string[];
  private readonly material: TlsMaterialSource;

  constructor(store: SecretStore, ctx: Dec, field = 'typed_config') {
    rejectUnsupported('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', ctx, DOWNSTREAM_FIELDS, field);
    if (ctx.require_sni?.value) reject(`${field}.require_sni`, 'is not supported');
    this.requireClientCertificate = !!ctx.require_client_certificate?.value;
    const common = compileCommonTls(ctx.common_tls_context, `${field}.common_tls_context`);
    if (!common.certSecret && !common.inlineCert) reject(`${field}.common_tls_context`, 'a server context needs a certificate');
    this.alpn = common.alpn;
    this.material = new TlsMaterialSource(store, common);
  }

  /** SDS secrets this context needs. */
  secretNames(): string[] {
    return this.material.secretNames();
  }

  /**
   * ALPN selection: the first of this context's protocols the client offers; when none is
   * offered, the client's first choice (Envoy completes such handshakes rather than failing
   * them, and mesh clients offer `istio-peer-exchange` first).
   */
  private readonly selectAlpn = (o: { protocols: string[] }): string | undefined => {
    for (const p of this.alpn) if (o.protocols.includes(p)) return p;
    return o.protocols[0];
  };

  /**
   * Terminates TLS on an accepted connection (bytes already read and put back with `unshift` are
   * replayed). The returned socket emits `secure` only after the client certificate (when one
   * is requested) chains to the trust bundle, is in its validity period and matches the SANs;
   * otherwise it is destroyed with a PeerCertificateError or PeerIdentityError. The checked peer
   * is available with `peerIdentityOf(socket)`.
   */
  wrap(raw: net.Socket): tls.TLSSocket {
    let m: TlsMaterial;
    try {
      m = this.material.current();
    } catch (err) {
      const dead = new tls.TLSSocket(raw, { isServer: true });
      dead.destroy(err as Error);
      return dead;
    }
    const s = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: m.context,
      requestCert: m.roots !== null,
      rejectUnauthorized: false,
      ...(this.alpn.length ? { ALPNCallback: this.selectAlpn } : {}),
    });
    (s as unknown as { [kMaterial]: TlsMaterial })[kMaterial] = m;
    (s as unknown as { [kRequire]: boolean })[kRequire] = this.requireClientCertificate;
    s.prependOnceListener('secure', onServerSecure);
    return s;
  }
}

const kMaterial = Symbol('tsmesh.tlsMaterial');
const kRequire = Symbol('tsmesh.requireClientCert');

/** Checks the client certificate of a server-side socket as soon as the handshake completes. */
function onServerSecure(this: tls.TLSSocket): void {
  const m = (this as unknown as { [kMaterial]: TlsMaterial })[kMaterial];
  const required = (this as unknown as { [kRequire]: boolean })[kRequire];
  const chain = m.roots ? peerChain(this) : [];
  try {
    if (chain.length === 0) {
      if (required) throw new PeerCertificateError('a client certificate is required');
    } else {
      verifyPeerChain(chain, m.roots!);
      const peer = describePeer(this, chain[0]);
      if (!sansMatch(m.sans, peer.sans)) throw new PeerIdentityError(chain[0].subjectAltName ?? '', describeMatchers(m.sans));
    }
  } catch (err) {
    this.destroy(err as Error);
    return;
  }
  (this as unknown as { [kPeerIdentity]: PeerIdentity })[kPeerIdentity] = describePeer(this, chain[0]);
}
