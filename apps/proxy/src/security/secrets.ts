/**
 * The proxy's SDS secrets by name (Envoy `extensions.transport_sockets.tls.v3.Secret`): `default`
 * (workload certificate and key) and `ROOTCA` (trust bundle) from the local agent, and
 * `kubernetes://<name>` / `kubernetes://<name>-cacert` for a gateway's `credentialName` from the
 * control plane over ADS. TLS contexts read secrets here and rebuild their Node secure context
 * when a secret's version changes, so a rotated certificate applies to new connections without a
 * restart while open connections keep theirs.
 */
import { EventEmitter } from 'node:events';
import type { Secret__Output } from '@tsmesh/xds';
import { reject } from '../config/errors';
import { compileSanMatchers, type SanMatcher } from './san';

/** Names of the workload secrets (ARCHITECTURE.md). */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';

/** Secrets the local agent owns (an SDS update does not replace them). */
export const LOCAL_SECRETS: ReadonlySet<string> = new Set([SDS_DEFAULT, SDS_ROOTCA]);

/** A certificate chain (leaf first) with its private key. */
export interface TlsCertificateSecret {
  readonly kind: 'tls_certificate';
  readonly chainPem: string;
  readonly keyPem: string;
}

/** A trust bundle, with the subject alt names a peer must present (empty: any). */
export interface ValidationSecret {
  readonly kind: 'validation_context';
  readonly trustedCaPem: string;
  readonly sans: readonly SanMatcher[];
}

/** One secret. */
export type SecretValue = TlsCertificateSecret | ValidationSecret;

/** A secret with the version the store gave it (increases on every change). */
export interface VersionedSecret {
  readonly value: SecretValue;
  readonly version: number;
  /** When this value was set. */
  readonly updatedAt?: Date;
}

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Reads an Envoy `DataSource` holding PEM: `inline_string` or `inline_bytes` (files are the agent's business). */
function dataSource(d: Dec | null | undefined, field: string): string {
  if (!d) return reject(field, 'is missing');
  if (d.specifier === 'inline_string' || (d.inline_string && !d.specifier)) return d.inline_string as string;
  if (d.specifier === 'inline_bytes') return Buffer.from(d.inline_bytes as Uint8Array).toString('utf8');
  return reject(field, `data source "${d.specifier ?? ''}" is not supported (inline_string or inline_bytes)`);
}

/** Compiles a decoded SDS `Secret`; throws ConfigError naming the field. */
export function compileSecret(s: Secret__Output): SecretValue {
  const m = s as unknown as Dec;
  if (m.type === 'tls_certificate' || (m.tls_certificate && !m.type)) {
    const t = m.tls_certificate as Dec;
    const chainPem = dataSource(t.certificate_chain, 'tls_certificate.certificate_chain');
    const keyPem = dataSource(t.private_key, 'tls_certificate.private_key');
    if (!chainPem.includes('-----BEGIN CERTIFICATE-----')) reject('tls_certificate.certificate_chain', 'holds no PEM certificate');
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) reject('tls_certificate.private_key', 'holds no PEM private key');
    return { kind: 'tls_certificate', chainPem, keyPem };
  }
  if (m.type === 'validation_context' || (m.validation_context && !m.type)) {
    const v = m.validation_context as Dec;
    const trustedCaPem = dataSource(v.trusted_ca, 'validation_context.trusted_ca');
    if (!trustedCaPem.includes('-----BEGIN CERTIFICATE-----')) reject('validation_context.trusted_ca', 'holds no PEM certificate');
    return { kind: 'validation_context', trustedCaPem, sans: compileSanMatchers(v, 'validation_context') };
  }
  return reject('type', `secret type "${m.type ?? ''}" is not supported (tls_certificate or validation_context)`);
}

function same(a: SecretValue, b: SecretValue): boolean {
  if (a.kind === 'tls_certificate' && b.kind === 'tls_certificate') return a.chainPem === b.chainPem && a.keyPem === b.keyPem;
  if (a.kind === 'validation_context' && b.kind === 'validation_context') return a.trustedCaPem === b.trustedCaPem && a.sans.length === 0 && b.sans.length === 0;
  return false;
}

/**
 * Secrets by name. Events: `change` (name) whenever a secret is set to a new value or removed.
 * Local secrets (`default`, `ROOTCA`) and ADS secrets live side by side; a full SDS update
 * replaces only the ADS ones.
 */
export class SecretStore extends EventEmitter {
  private readonly secrets = new Map<string, VersionedSecret>();
  private readonly fromAds = new Set<string>();
  private seq = 0;

  /** The secret named `name`, or undefined. */
  get(name: string): VersionedSecret | undefined {
    return this.secrets.get(name);
  }

  /** Sets a secret; no event when the value is unchanged. */
  set(name: string, value: SecretValue): void {
    const prev = this.secrets.get(name);
    if (prev && same(prev.value, value)) return;
    this.secrets.set(name, { value, version: ++this.seq, updatedAt: new Date() });
    this.emit('change', name);
  }

  /** Removes a secret. */
  delete(name: string): void {
    if (this.secrets.delete(name)) this.emit('change', name);
    this.fromAds.delete(name);
  }

  /** Names of the secrets held. */
  names(): string[] {
    return [...this.secrets.keys()].sort();
  }

  /**
   * Applies a full SDS (State of the World) update: every secret compiles or none is applied
   * (the caller NACKs with the error); secrets no longer sent are removed. Names in
   * `localOwned` (by default `default` and `ROOTCA`, the agent's) are left alone.
   */
  applySds(resources: readonly { name: string; message: Secret__Output }[], localOwned: ReadonlySet<string> = LOCAL_SECRETS): void {
    const next = new Map<string, SecretValue>();
    for (const r of resources) {
      if (localOwned.has(r.name)) continue; // the local agent owns these
      try {
        next.set(r.name, compileSecret(r.message));
      } catch (err) {
        const e = err as Error;
        throw Object.assign(new Error(`secret "${r.name}": ${e.message}`), { cause: err, resourceName: r.name });
      }
    }
    for (const name of [...this.fromAds]) if (!next.has(name)) this.delete(name);
    for (const [name, v] of next) {
      this.fromAds.add(name);
      this.set(name, v);
    }
  }
}
