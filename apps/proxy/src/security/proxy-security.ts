/**
 * The proxy's security state: one {@link SecretStore}, the workload certificate agent (when a CA
 * is configured) and the SDS subscription for the secrets the pushed config references beyond
 * the agent's own (`kubernetes://…` gateway credentials). A secret the control plane cannot
 * deliver leaves the connections that need it failing until it arrives, as in Envoy.
 */
import type { Logger } from 'pino';
import { ResourceRejectedError, TypeUrl, type AdsClient, type Secret__Output, type XdsUpdate } from '@tsmesh/xds';
import { CertAgent, type CertAgentOptions } from './agent';
import { LOCAL_SECRETS, SDS_DEFAULT, SDS_ROOTCA, SecretStore } from './secrets';

const NONE: ReadonlySet<string> = new Set();

/** Security settings from flags and env. */
export interface SecurityOptions {
  /** CA address (`CA_ADDR`); no agent when empty (certificates then come only over SDS). */
  caAddress: string;
  /** Root verifying the CA's serving certificate (`--ca-root-file`, the mounted `istio-ca-root-cert`). */
  caRootFile?: string;
  caServerName?: string;
  /** Service-account token file (`--token-file`, Istio's `/var/run/secrets/tokens/istio-token`). */
  tokenFile?: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  /** Requested certificate lifetime in seconds (`SECRET_TTL`), 0 for the CA's default. */
  ttlSeconds?: number;
}

/** Secrets, agent and SDS for one proxy. */
export class ProxySecurity {
  readonly store = new SecretStore();
  readonly agent: CertAgent | null;
  private sdsNames: string[] = [];
  private client: AdsClient | null = null;

  constructor(readonly o: SecurityOptions, private readonly log: Logger) {
    const agentOpts: CertAgentOptions | null = o.caAddress
      ? { store: this.store, caAddress: o.caAddress, caRootFile: o.caRootFile, caServerName: o.caServerName, tokenFile: o.tokenFile, trustDomain: o.trustDomain, namespace: o.namespace, serviceAccount: o.serviceAccount, ttlSeconds: o.ttlSeconds }
      : null;
    this.agent = agentOpts ? new CertAgent(agentOpts) : null;
    this.agent?.on('issued', (s) => this.log.info({ spiffeId: s.spiffeId, notAfter: s.notAfter, renewAt: s.renewAt }, 'workload certificate issued'));
    this.agent?.on('failed', (err: Error) => this.log.warn({ err: err.message }, 'workload certificate request failed; retrying'));
  }

  /** Gets the first workload certificate (when there is an agent). */
  async start(): Promise<void> {
    if (this.agent) await this.agent.start();
  }

  /** Registers the SDS watch on the ADS client (names are set by {@link requireSecrets}). */
  watch(client: AdsClient): void {
    this.client = client;
    client.watch(TypeUrl.Secret, [], (u) => this.onSecrets(u));
  }

  /** Subscribes to the SDS secrets the config references (the agent's own are local). */
  requireSecrets(names: Iterable<string>): void {
    const want = [...new Set([...names].filter((n) => !this.agent || (n !== SDS_DEFAULT && n !== SDS_ROOTCA)))].sort();
    if (want.length === this.sdsNames.length && want.every((n, i) => n === this.sdsNames[i])) return;
    this.sdsNames = want;
    this.client?.subscribe(TypeUrl.Secret, want);
  }

  private onSecrets(u: XdsUpdate): void {
    try {
      // without an agent, the workload secrets may come over SDS too
      this.store.applySds(u.resources.map((r) => ({ name: r.name, message: r.message as unknown as Secret__Output })), this.agent ? LOCAL_SECRETS : NONE);
    } catch (err) {
      throw new ResourceRejectedError(u.typeUrl, (err as { resourceName?: string }).resourceName, (err as Error).message, { cause: err });
    }
    this.log.info({ version: u.version, secrets: u.resources.map((r) => r.name) }, 'secrets applied');
  }

  stop(): void {
    this.agent?.stop();
  }
}
