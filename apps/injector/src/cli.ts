import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { DEFAULT_CONFIG, type InjectionConfig } from './inject/config';
import { InjectorError } from './errors';
import { kubeInject } from './kube-inject';
import { kubeNamespaceLabels } from './webhook/namespaces';
import { CaBundlePatcher, kubeWebhookConfigApi } from './webhook/ca-bundle';
import { startWebhookServer } from './webhook/server';
import { issueServingCert } from './webhook/self-signed';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const bool = (value: string) => {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('must be true or false');
};

/** Adds the injection template's options (shared by `serve` and `kube-inject`). */
function templateOptions(cmd: Command): Command {
  const d = DEFAULT_CONFIG;
  return cmd
    .addOption(new Option('--proxy-image <image>', 'image of istio-init and istio-proxy').default(d.proxyImage).env('PROXY_IMAGE'))
    .addOption(new Option('--image-pull-policy <policy>', 'imagePullPolicy of the injected containers').choices(['Always', 'IfNotPresent', 'Never']).default(d.imagePullPolicy).env('IMAGE_PULL_POLICY'))
    .addOption(new Option('--native-sidecars <bool>', 'istio-proxy as a native sidecar (Kubernetes >= 1.29); false: a plain container').argParser(bool).default(d.nativeSidecars).env('NATIVE_SIDECARS'))
    .addOption(new Option('--rewrite-app-probes <bool>', "rewrite the app's HTTP/TCP probes to the proxy's :15020/app-health (Istio's default is true)").argParser(bool).default(d.rewriteAppProbes).env('REWRITE_APP_PROBES'))
    .addOption(new Option('--discovery-address <host:port>', 'xDS address given to the proxy').default(d.discoveryAddress).env('DISCOVERY_ADDRESS'))
    .addOption(new Option('--ca-address <host:port>', 'CA address given to the proxy (CA_ADDR)').default(d.caAddress).env('CA_ADDRESS'))
    .addOption(new Option('--trust-domain <domain>', 'SPIFFE trust domain').default(d.trustDomain).env('TRUST_DOMAIN'))
    .addOption(new Option('--cluster-id <id>', 'ISTIO_META_CLUSTER_ID').default(d.clusterId).env('CLUSTER_ID'))
    .addOption(new Option('--mesh-id <id>', 'ISTIO_META_MESH_ID').default(d.meshId).env('MESH_ID'))
    .addOption(new Option('--revision <rev>', 'istio.io/rev written on injected pods').default(d.revision).env('REVISION'))
    .addOption(new Option('--proxy-log-level <level>', 'proxy log level').default(d.proxyLogLevel));
}

function configFrom(opts: Record<string, unknown>): InjectionConfig {
  return {
    ...DEFAULT_CONFIG,
    proxyImage: opts.proxyImage as string,
    imagePullPolicy: opts.imagePullPolicy as InjectionConfig['imagePullPolicy'],
    nativeSidecars: opts.nativeSidecars as boolean,
    rewriteAppProbes: opts.rewriteAppProbes as boolean,
    discoveryAddress: opts.discoveryAddress as string,
    caAddress: opts.caAddress as string,
    trustDomain: opts.trustDomain as string,
    clusterId: opts.clusterId as string,
    meshId: opts.meshId as string,
    revision: opts.revision as string,
    proxyLogLevel: opts.proxyLogLevel as string,
  };
}

/** The `injector` command: `serve` (the webhook, the default) and `kube-inject`. */
export function buildCli(): Command {
  const program = new Command('injector').description('tsmesh sidecar injector: mutating admission webhook and offline kube-inject');

  templateOptions(
    program
      .command('serve', { isDefault: true })
      .description('serve the mutating admission webhook over HTTPS')
      .addOption(new Option('--port <port>', 'HTTPS port').argParser(int('--port')).default(15017).env('PORT'))
      .addOption(new Option('--host <address>', 'listen address').default('0.0.0.0').env('HOST'))
      .addOption(new Option('--tls-cert <file>', 'serving certificate chain (PEM)').default('/etc/istio/injector-certs/tls.crt').env('TLS_CERT_FILE'))
      .addOption(new Option('--tls-key <file>', 'serving private key (PEM)').default('/etc/istio/injector-certs/tls.key').env('TLS_KEY_FILE'))
      .addOption(new Option('--cert-check-interval <ms>', 'how often to look for a rotated certificate').argParser(int('--cert-check-interval')).default(5000))
      .addOption(new Option('--webhook-config <name>', "MutatingWebhookConfiguration whose caBundle the injector keeps equal to --ca-bundle (Kubernetes API)").env('WEBHOOK_CONFIG'))
      .addOption(new Option('--ca-bundle <file>', 'CA certificate (PEM) that signed the serving certificate').default('/etc/istio/injector-certs/ca.crt').env('CA_BUNDLE_FILE'))
      .addOption(new Option('--self-signed-dir <dir>', 'when --tls-cert does not exist: issue a CA and a serving certificate for <service>.<namespace>.svc into this writable directory and use them (the CA becomes the caBundle)').env('SELF_SIGNED_DIR'))
      .addOption(new Option('--service-name <name>', 'the webhook Service, named in the self-issued certificate').default('istio-sidecar-injector').env('SERVICE_NAME'))
      .addOption(new Option('--namespace <ns>', 'namespace the injector runs in').default('istio-system').env('POD_NAMESPACE'))
      .addOption(new Option('--namespace-labels <mode>', "look up namespace labels: kube (API server), none (trust the webhook's selectors), auto (kube when in a cluster)").choices(['auto', 'kube', 'none']).default('auto').env('NAMESPACE_LABELS'))
      .addOption(new Option('--log-level <level>', 'log level').default('info').env('LOG_LEVEL')),
  ).action(async (opts: Record<string, unknown>) => {
    const log = pino({ name: 'injector', level: opts.logLevel as string });
    const config = configFrom(opts);
    const mode = opts.namespaceLabels as string;
    const useKube = mode === 'kube' || (mode === 'auto' && !!process.env.KUBERNETES_SERVICE_HOST);
    const namespaceLabels = useKube ? await kubeNamespaceLabels(log) : undefined;
    let certFile = opts.tlsCert as string;
    let keyFile = opts.tlsKey as string;
    let caFile = opts.caBundle as string;
    if (opts.selfSignedDir && !existsSync(certFile)) {
      ({ certFile, keyFile, caFile } = await issueServingCert(opts.selfSignedDir as string, opts.serviceName as string, opts.namespace as string));
      log.info({ certFile, service: `${opts.serviceName as string}.${opts.namespace as string}.svc` }, `no ${opts.tlsCert as string}: serving a certificate issued by the injector's own CA`);
    }
    const patcher = opts.webhookConfig
      ? new CaBundlePatcher(await kubeWebhookConfigApi(), opts.webhookConfig as string, caFile, log)
      : undefined;
    const server = await startWebhookServer(
      {
        config,
        namespaceLabels,
        onDecision: (d) => log.info(d, d.inject ? 'injected' : 'not injected'),
      },
      {
        certFile,
        keyFile,
        port: opts.port as number,
        host: opts.host as string,
        certCheckIntervalMs: opts.certCheckInterval as number,
        onReload: () => void patcher?.sync(),
      },
      log,
    );
    // Now, every minute (re-applied manifests reset the caBundle), and within seconds after a
    // failure (the webhook configuration is often created after the injector starts).
    patcher?.start();
    log.info({ port: server.port, namespaceLabels: useKube ? 'kube' : 'none', proxyImage: config.proxyImage, nativeSidecars: config.nativeSidecars }, 'injector webhook listening');
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        log.info({ signal }, 'shutting down');
        void server.close().then(() => process.exit(0));
        setTimeout(() => process.exit(0), 5000).unref();
      });
    }
  });

  templateOptions(
    program
      .command('kube-inject')
      .description('inject sidecars into Kubernetes YAML offline (Pods, Deployments, StatefulSets, DaemonSets, Jobs, CronJobs; multi-document)')
      .requiredOption('-f, --filename <file>', 'input YAML file, or - for stdin')
      .option('-o, --output <file>', 'output file (default: stdout)'),
  ).action((opts: Record<string, unknown>) => {
    const file = opts.filename as string;
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    const { yaml, report } = kubeInject(text, configFrom(opts), file === '-' ? 'stdin' : file);
    if (opts.output) writeFileSync(opts.output as string, yaml);
    else process.stdout.write(yaml);
    for (const r of report) process.stderr.write(`${r.resource}: ${r.reason}\n`);
  });
  return program;
}

/** Runs the CLI; a named error prints its message and exits 1, never a stack trace. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof InjectorError) {
      process.stderr.write(`injector: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
