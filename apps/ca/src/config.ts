/** The CA's command line (commander) and the configuration it yields. */
import { Command, Option } from 'commander';
import { DEFAULT_TRUST_DOMAIN } from '@tsmesh/certs';
import { parseDurationSeconds } from './duration';
import { CaConfigError } from './errors';

/** Everything the CA is started with, after parsing and checking the flags. */
export interface CaConfig {
  listen: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  cacertsDir: string;
  rootFile?: string;
  jwksFile?: string;
  audiences: string[];
  issuer?: string;
  kubernetes: boolean;
  kubeconfig?: string;
  namespace: string;
  trustDomain: string;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  bundleOut?: string;
  bundleResyncSeconds: number;
  monitoringPort: number | null;
  logLevel: string;
}

/** Builds the commander program; `onRun` receives the checked config. */
export function buildCli(onRun: (config: CaConfig) => Promise<void>): Command {
  return new Command('ca')
    .description('tsmesh certificate authority: istio.v1.auth.IstioCertificateService over gRPC/TLS')
    .option('--listen <host:port>', 'gRPC listen address', '0.0.0.0:8060')
    .option('--tls-cert <file>', 'serving certificate chain (PEM); default: issued by this CA for istio-ca.<namespace>.svc')
    .option('--tls-key <file>', 'serving private key (PEM), with --tls-cert')
    .option('--cacerts <dir>', "plug-in CA directory in Istio's layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)", '/etc/cacerts')
    .option('--root-file <path>', 'where the self-signed root (cert + key) is kept across restarts (local runtime)')
    .option('--jwks <file>', 'JWKS file to verify service-account JWTs with (local runtime)')
    .option('--audience <aud...>', 'accepted token audiences', ['istio-ca'])
    .option('--issuer <iss>', 'required JWT issuer (with --jwks)')
    .option('--kubernetes', 'Kubernetes mode: TokenReview, root in Secret istio-ca-secret, ConfigMap istio-ca-root-cert in every namespace', false)
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then KUBECONFIG, then ~/.kube/config)')
    .option('--namespace <ns>', 'namespace the CA runs in', process.env.POD_NAMESPACE ?? 'istio-system')
    .option('--trust-domain <domain>', 'SPIFFE trust domain', DEFAULT_TRUST_DOMAIN)
    .option('--default-ttl <duration>', 'workload certificate lifetime when the request asks for none', '24h')
    .option('--max-ttl <duration>', 'longest workload certificate lifetime granted', '2160h')
    .option('--bundle-out <path>', 'write the trust bundle (root PEM) to this file (local runtime)')
    .option('--bundle-resync <duration>', 'how often the ConfigMaps are reconciled (Kubernetes mode)', '60s')
    .addOption(new Option('--monitoring <port>', 'health and Prometheus /metrics port; "off" disables').default('15014'))
    .option('--log-level <level>', 'pino log level', 'info')
    .action((raw: Record<string, unknown>) => onRun(toConfig(raw)));
}

/** Checks raw commander options and turns them into a CaConfig. */
export function toConfig(raw: Record<string, unknown>): CaConfig {
  const str = (k: string) => (raw[k] === undefined ? undefined : String(raw[k]));
  const defaultTtlSeconds = parseDurationSeconds(String(raw.defaultTtl), '--default-ttl');
  const maxTtlSeconds = parseDurationSeconds(String(raw.maxTtl), '--max-ttl');
  if (defaultTtlSeconds <= 0) throw new CaConfigError('--default-ttl must be positive');
  if (defaultTtlSeconds > maxTtlSeconds) throw new CaConfigError(`--default-ttl (${raw.defaultTtl}) is above --max-ttl (${raw.maxTtl})`);
  if (!raw.jwks && !raw.kubernetes) throw new CaConfigError('no way to authenticate callers: give --jwks <file> (local runtime) or --kubernetes');
  if (raw.jwks && raw.kubernetes) throw new CaConfigError('--jwks and --kubernetes are exclusive: tokens are checked one way');
  if (Boolean(raw.tlsCert) !== Boolean(raw.tlsKey)) throw new CaConfigError('--tls-cert and --tls-key go together');
  if (!/:\d+$/.test(String(raw.listen))) throw new CaConfigError(`--listen "${raw.listen}" must be host:port`);
  const mon = String(raw.monitoring);
  let monitoringPort: number | null = null;
  if (mon !== 'off') {
    monitoringPort = Number(mon);
    if (!Number.isInteger(monitoringPort) || monitoringPort < 0 || monitoringPort > 65535) throw new CaConfigError(`--monitoring "${mon}" is not a port or "off"`);
  }
  return {
    listen: String(raw.listen),
    tlsCertFile: str('tlsCert'),
    tlsKeyFile: str('tlsKey'),
    cacertsDir: String(raw.cacerts),
    rootFile: str('rootFile'),
    jwksFile: str('jwks'),
    audiences: (raw.audience as string[]).filter((a) => a !== ''),
    issuer: str('issuer'),
    kubernetes: Boolean(raw.kubernetes),
    kubeconfig: str('kubeconfig'),
    namespace: String(raw.namespace),
    trustDomain: String(raw.trustDomain),
    defaultTtlSeconds,
    maxTtlSeconds,
    bundleOut: str('bundleOut'),
    bundleResyncSeconds: parseDurationSeconds(String(raw.bundleResync), '--bundle-resync'),
    monitoringPort,
    logLevel: String(raw.logLevel),
  };
}
