/**
 * tsmesh control plane: Istio config in (watched YAML directory and/or Kubernetes), Envoy xDS
 * out (ADS on 15010 plaintext and 15012 TLS), monitoring on 15014.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import * as grpc from '@grpc/grpc-js';
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { FileStore } from './config/file-store';
import { KubeStore } from './config/kube-store';
import { GatewayDeploymentController, KubeDeploymentClient } from './config/gateway-deployments';
import type { ConfigStore } from './config/store';
import { Discovery } from './server/discovery';
import { parseMeshConfig } from './model/mesh-config';
import { startMonitoring } from './server/monitoring';

const program = new Command()
  .name('control-plane')
  .description('tsmesh control plane: Istio config in, Envoy xDS out')
  .option('--config-dir <dir>', 'watched directory of YAML files (Istio and Kubernetes resources)')
  .option('--kubernetes', 'read config from the Kubernetes API (in-cluster or KUBECONFIG)', false)
  .option('--istio-version <v>', 'API version used to watch Istio CRDs', 'v1')
  .option('--resync-ms <ms>', 'Kubernetes full re-list period', (v) => Number(v), 300_000)
  .option('--listen-address <host>', 'address the servers bind', '0.0.0.0')
  .option('--xds-port <port>', 'ADS over plaintext gRPC', (v) => Number(v), 15010)
  .option('--xds-tls-port <port>', 'ADS over TLS (needs --tls-cert and --tls-key)', (v) => Number(v), 15012)
  .option('--tls-cert <file>', 'PEM certificate chain for the TLS xDS port')
  .option('--tls-key <file>', 'PEM private key for the TLS xDS port')
  .option('--tls-client-ca <file>', 'PEM CA bundle; when set, proxies must present a client certificate it signed')
  .option('--monitoring-port <port>', 'metrics, status and config dumps', (v) => Number(v), 15014)
  .option('--debounce-ms <ms>', 'quiet period before a push', (v) => Number(v), 100)
  .option('--debounce-max-ms <ms>', 'longest delay of a push after the first change', (v) => Number(v), 10_000)
  .option('--domain <suffix>', 'cluster DNS suffix', 'cluster.local')
  .option('--trust-domain <domain>', 'SPIFFE trust domain', 'cluster.local')
  .option('--root-namespace <ns>', 'Istio root namespace (mesh-wide policies)', 'istio-system')
  .option('--mesh-config <file>', "Istio mesh config (a MeshConfig YAML, or the istio ConfigMap with data.mesh): proxyListenPort, proxyInboundListenPort, defaultConfig.gatewayTopology.numTrustedProxies")
  .option('--push-throttle <n>', 'xDS responses written at once across all streams (Istio PILOT_PUSH_THROTTLE)', (v) => Number(v), Number(process.env.PILOT_PUSH_THROTTLE ?? 100))
  .option('--max-new-streams-per-second <n>', 'new ADS streams admitted per second, 0 = unlimited (Istio PILOT_MAX_REQUESTS_PER_SECOND)', (v) => Number(v), Number(process.env.PILOT_MAX_REQUESTS_PER_SECOND ?? 100))
  .option('--no-gateway-deployments', 'with --kubernetes: do not deploy Gateway API Gateways of class istio (automated deployment is on by default)')
  .option('--gateway-image <image>', 'proxy image of the deployed Gateways', process.env.GATEWAY_IMAGE ?? 'tsmesh/proxy:latest')
  .option('--log-level <level>', 'pino log level', 'info');

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{
    configDir?: string; kubernetes: boolean; istioVersion: string; resyncMs: number; listenAddress: string; xdsPort: number; xdsTlsPort: number;
    tlsCert?: string; tlsKey?: string; tlsClientCa?: string; monitoringPort: number; debounceMs: number; debounceMaxMs: number;
    domain: string; trustDomain: string; rootNamespace: string; logLevel: string; meshConfig?: string;
    pushThrottle: number; maxNewStreamsPerSecond: number; gatewayDeployments: boolean; gatewayImage: string;
  }>();
  for (const [flag, v] of [['--push-throttle', o.pushThrottle], ['--max-new-streams-per-second', o.maxNewStreamsPerSecond]] as const) {
    if (!Number.isFinite(v) || v < 0 || (flag === '--push-throttle' && v < 1)) {
      process.stderr.write(`${flag}: "${v}" is not a valid number (${flag === '--push-throttle' ? 'at least 1' : '0 or more'})\n`);
      process.exit(2);
    }
  }
  const log = pino({ level: o.logLevel, base: { app: 'control-plane' } });
  const stores: ConfigStore[] = [];
  let gatewayDeployments: GatewayDeploymentController | undefined;
  if (o.configDir) stores.push(new FileStore(o.configDir));
  if (o.kubernetes) {
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    stores.push(new KubeStore(kc, { istioVersion: o.istioVersion, resyncMs: o.resyncMs, log: (level, msg) => log[level](msg) }));
    if (o.gatewayDeployments) {
      // The deployed gateways reach this control plane and the CA by their Services in our namespace.
      const ns = process.env.POD_NAMESPACE ?? o.rootNamespace;
      gatewayDeployments = new GatewayDeploymentController(new KubeDeploymentClient(kc), {
        image: o.gatewayImage, discoveryAddress: `istiod.${ns}.svc:15010`, caAddress: process.env.CA_ADDR ?? `istio-ca.${ns}.svc:8060`, trustDomain: o.trustDomain,
      }, (msg, err) => (err ? log.warn({ err: err instanceof Error ? err.message : String(err) }, msg) : log.info(msg)));
    }
  }
  if (!stores.length) {
    log.error('no config source: pass --config-dir <dir> and/or --kubernetes');
    process.exit(2);
  }
  const discovery = new Discovery({
    stores, debounceMs: o.debounceMs, debounceMaxMs: o.debounceMaxMs, logger: log,
    pushThrottle: o.pushThrottle, maxNewStreamsPerSecond: o.maxNewStreamsPerSecond, gatewayDeployments,
    push: {
      domain: o.domain, trustDomain: o.trustDomain, rootNamespace: o.rootNamespace,
      ...(o.meshConfig ? { meshConfig: parseMeshConfig(readFileSync(o.meshConfig, 'utf8'), o.meshConfig) } : {}),
    },
  });
  await discovery.start();
  const host = o.listenAddress;
  const xds = await discovery.listen(`${host.includes(':') ? `[${host}]` : host}:${o.xdsPort}`);
  log.info({ port: xds }, 'ADS (plaintext) listening');
  if (o.tlsCert && o.tlsKey) {
    const creds = grpc.ServerCredentials.createSsl(
      o.tlsClientCa ? readFileSync(o.tlsClientCa) : null,
      [{ cert_chain: readFileSync(o.tlsCert), private_key: readFileSync(o.tlsKey) }],
      !!o.tlsClientCa,
    );
    const tls = await discovery.listen(`${host.includes(':') ? `[${host}]` : host}:${o.xdsTlsPort}`, creds);
    log.info({ port: tls }, 'ADS (TLS) listening');
  } else {
    log.warn('no --tls-cert/--tls-key: the TLS xDS port is not served');
  }
  const mon = await startMonitoring(discovery, host, o.monitoringPort);
  log.info({ port: mon.port }, 'monitoring listening');
  // One line on stdout that scripts and tests can wait for.
  process.stdout.write(`${JSON.stringify({ ready: true, xdsPort: xds, monitoringPort: mon.port })}\n`);
  const shutdown = async (sig: string) => {
    log.info({ signal: sig }, 'shutting down');
    mon.server.close();
    await discovery.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`control-plane: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
