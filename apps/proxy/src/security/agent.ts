/**
 * The workload certificate agent (Istio's pilot-agent SDS side): makes a key pair and a CSR for
 * the pod's SPIFFE identity, calls the CA's `IstioCertificateService/CreateCertificate` with the
 * service-account token, and publishes the result as the SDS secrets `default` (chain and key)
 * and `ROOTCA` (trust bundle: the CA's published root file when given, else the root ending the
 * returned chain). It rotates at half-life with jitter (a new key each time) and retries with
 * backoff when the CA is unreachable; connections opened before a rotation keep their certificate.
 *
 * The PKI half of `@tsmesh/certs` (`./pki`: @peculiar/x509 for the CSR, the CA's gRPC client and
 * its messages) is imported on the first request, not at start: a proxy without a CA never loads it
 * (about 5 MB of resident memory, apps/proxy/README.md, Memory).
 */
import { EventEmitter } from 'node:events';
import { readFile as readFileCb } from 'node:fs';
import { promisify } from 'node:util';
import { formatSpiffeId } from '@tsmesh/certs/spiffe';
import type * as Pki from './pki';
import { SDS_DEFAULT, SDS_ROOTCA, type SecretStore } from './secrets';

// node:fs/promises would load its readline-based helpers at start in every proxy
const readFile = promisify(readFileCb);

/** Options for {@link CertAgent}. */
export interface CertAgentOptions {
  store: SecretStore;
  /** CA address `host:port` (Istio's `CA_ADDR`, e.g. `istio-ca.istio-system.svc:8060`). */
  caAddress: string;
  /** Root that verifies the CA's serving certificate (PEM). */
  caRootPem?: string;
  /** File holding that root (read at each call, so a rotated bundle is picked up). */
  caRootFile?: string;
  /** Name to expect in the CA's certificate (`istio-ca.istio-system.svc`). */
  caServerName?: string;
  /** Service-account token file (projected, audience `istio-ca`), read at each request. */
  tokenFile?: string;
  /** Or a token source (tests). */
  token?: () => Promise<string>;
  trustDomain?: string;
  namespace: string;
  serviceAccount: string;
  /** Requested lifetime in seconds (0: the CA's default, 24 h). */
  ttlSeconds?: number;
  /** Fraction of the lifetime after which to renew (0.5). */
  renewFraction?: number;
  /** Jitter as a fraction of the lifetime (0.05). */
  jitter?: number;
  /** First and largest retry delay after a failed request. */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** What the agent reports at /debug and in logs. */
export interface CertStatus {
  spiffeId: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  renewAt: string;
  rotations: number;
  lastError: string | null;
}

/** Events: `issued` (CertStatus), `error` is never emitted (failures go to `failed` (Error) and are retried). */
export class CertAgent extends EventEmitter {
  private timer: NodeJS.Timeout | null = null;
  private client: Pki.CaClient | null = null;
  private clientRoot = '';
  private rotations = 0;
  private lastError: string | null = null;
  private info: CertStatus | null = null;
  private stopped = false;
  private inflight: Promise<void> | null = null;

  constructor(private readonly o: CertAgentOptions) {
    super();
  }

  /** The SPIFFE ID the agent asks for. */
  get spiffeId(): string {
    return formatSpiffeId({ trustDomain: this.o.trustDomain ?? 'cluster.local', namespace: this.o.namespace, serviceAccount: this.o.serviceAccount });
  }

  /** Gets the first certificate (retrying until it succeeds or the agent is stopped), then schedules rotation. */
  async start(): Promise<void> {
    let delay = this.o.retryInitialMs ?? 500;
    for (;;) {
      try {
        await this.rotateNow();
        return;
      } catch (err) {
        if (this.stopped) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.o.retryMaxMs ?? 30_000);
      }
    }
  }

  /** Requests a new certificate now and publishes it; rejects (and schedules a retry) on failure. */
  rotateNow(): Promise<void> {
    if (!this.inflight) this.inflight = this.issue().finally(() => (this.inflight = null));
    return this.inflight;
  }

  /** Status of the current certificate, or null before the first one. */
  status(): CertStatus | null {
    return this.info ? { ...this.info, rotations: this.rotations, lastError: this.lastError } : null;
  }

  /** Stops rotating and closes the CA channel. The secrets stay. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.client?.close();
    this.client = null;
  }

  private async caClient(certs: typeof Pki): Promise<Pki.CaClient> {
    const root = this.o.caRootFile ? await readFile(this.o.caRootFile, 'utf8') : (this.o.caRootPem ?? '');
    if (!this.client || root !== this.clientRoot) {
      this.client?.close();
      this.client = new certs.CaClient({ address: this.o.caAddress, rootPem: root || undefined, serverName: this.o.caServerName });
      this.clientRoot = root;
    }
    return this.client;
  }

  private async token(): Promise<string> {
    if (this.o.token) return this.o.token();
    if (this.o.tokenFile) return (await readFile(this.o.tokenFile, 'utf8')).trim();
    return '';
  }

  private async issue(): Promise<void> {
    const started = Date.now();
    try {
      const pkiLib = await pki();
      const { createCsr, exportPrivateKeyPem, generateKeyPair, parseCertificate, renewAt, splitPemCertificates } = pkiLib;
      const keys = await generateKeyPair();
      const csr = await createCsr(keys, { spiffeId: this.spiffeId });
      const client = await this.caClient(pkiLib);
      const chain = await client.createCertificate({ csr, token: await this.token(), validitySeconds: this.o.ttlSeconds ?? 0 });
      if (!chain.length) throw new Error('the CA returned an empty chain');
      const certs = chain.flatMap((c) => splitPemCertificates(c, 'certificate chain'));
      const leaf = parseCertificate(certs[0]);
      if (leaf.spiffeId !== this.spiffeId) throw new Error(`the CA issued ${leaf.spiffeId ?? 'no SPIFFE ID'}, expected ${this.spiffeId}`);
      const keyPem = await exportPrivateKeyPem(keys.privateKey);
      // The chain served to peers: leaf and intermediates; the root is the trust bundle.
      const served = certs.length > 1 ? certs.slice(0, -1) : certs;
      const rootPem = this.o.caRootFile ? this.clientRoot : certs[certs.length - 1];
      this.o.store.set(SDS_DEFAULT, { kind: 'tls_certificate', chainPem: served.join('\n'), keyPem });
      this.o.store.set(SDS_ROOTCA, { kind: 'validation_context', trustedCaPem: rootPem, sans: [] });
      // Certificates are back-dated for clock skew: measure the life from when it arrived.
      const start = new Date(Math.max(leaf.notBefore.getTime(), started));
      const at = renewAt({ notBefore: start, notAfter: leaf.notAfter }, { fraction: this.o.renewFraction ?? 0.5, jitter: this.o.jitter ?? 0.05 });
      this.rotations++;
      this.lastError = null;
      this.info = {
        spiffeId: this.spiffeId, serialNumber: leaf.serialNumber, notBefore: leaf.notBefore.toISOString(), notAfter: leaf.notAfter.toISOString(),
        renewAt: at.toISOString(), rotations: this.rotations, lastError: null,
      };
      this.schedule(at.getTime() - Date.now());
      this.emit('issued', this.status());
    } catch (err) {
      this.lastError = (err as Error).message;
      this.emit('failed', err);
      this.scheduleRetry();
      throw err;
    }
  }

  private retryDelay = 0;

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.retryDelay = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(onTimer, Math.min(Math.max(ms, 100), 2 ** 31 - 1), this);
    this.timer.unref();
  }

  private scheduleRetry(): void {
    if (this.stopped || !this.info) return; // before the first certificate, start() drives retries
    this.retryDelay = Math.min(this.retryDelay ? this.retryDelay * 2 : (this.o.retryInitialMs ?? 500), this.o.retryMaxMs ?? 30_000);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(onTimer, this.retryDelay, this);
    this.timer.unref();
  }

  /** @internal */
  tick(): void {
    this.timer = null;
    this.rotateNow().catch(noop);
  }
}

let loading: Promise<typeof Pki> | null = null;

/** The PKI half of `@tsmesh/certs` (`./pki`), imported once on first use (its own bundle chunk). */
function pki(): Promise<typeof Pki> {
  loading ??= import('./pki');
  return loading;
}

function onTimer(agent: CertAgent): void {
  agent.tick();
}

function noop(): void {}
