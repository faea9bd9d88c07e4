import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { CertificateError } from '../errors';

/** A loaded serving certificate and key. */
export interface KeyPair {
  cert: string;
  key: string;
}

/** Reads and checks a PEM certificate chain and key; throws {@link CertificateError} naming the file. */
export function loadKeyPair(certFile: string, keyFile: string): KeyPair {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
  } catch (err) {
    throw new CertificateError(`certificate ${certFile}: ${(err as Error).message}`);
  }
  try {
    key = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new CertificateError(`key ${keyFile}: ${(err as Error).message}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new CertificateError(`certificate ${certFile} and key ${keyFile} do not make a usable pair: ${(err as Error).message}`);
  }
  return { cert, key };
}

function stamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

/**
 * Watches the certificate and key files (polling, so Kubernetes' symlink swaps of mounted Secrets
 * are seen) and calls `onChange` with the new pair when both load; a half-written or bad pair is
 * reported to `onError` and the last good pair stays in use.
 */
export class CertificateWatcher {
  private timer: NodeJS.Timeout | undefined;
  private last: string;

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private readonly onChange: (pair: KeyPair) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.last = this.stamps();
  }

  private stamps(): string {
    return `${stamp(this.certFile)}|${stamp(this.keyFile)}`;
  }

  /** Starts polling every `intervalMs`. */
  start(intervalMs: number): this {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
    return this;
  }

  /** Checks once: reloads when either file changed since the last good load. */
  check(): void {
    const now = this.stamps();
    if (now === this.last) return;
    try {
      const pair = loadKeyPair(this.certFile, this.keyFile);
      this.last = now;
      this.onChange(pair);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** A TLS secure context for a pair (exported for tests and the server). */
export function secureContext(pair: KeyPair): SecureContext {
  return createSecureContext(pair);
}
