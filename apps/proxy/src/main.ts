#!/usr/bin/env node
/**
 * tsmesh proxy entry point, with Istio's subcommands:
 *   proxy sidecar | proxy router   run the proxy (xDS-configured data path)
 *   istio-iptables                 install the capture rules (init container)
 */
import { Command, Option } from 'commander';
import { bootstrap, type BootstrapFlags } from './agent/bootstrap';
import { Proxy } from './agent/proxy';
import { cleanupRules, DEFAULT_IPTABLES, iptablesRules, list, render, runIptables } from './capture/iptables';

function proxyCommand(type: 'sidecar' | 'router'): Command {
  return new Command(type)
    .description(type === 'sidecar' ? 'run as a sidecar (node id sidecar~IP~pod.ns~ns.svc.cluster.local)' : 'run as a gateway (node id router~...)')
    .option('--discovery-address <host:port>', 'xDS server (env DISCOVERY_ADDRESS; default istiod.istio-system.svc:15010)')
    .addOption(new Option('--discoveryAddress <host:port>').hideHelp())
    .option('--pod-name <name>', 'pod name (env POD_NAME)')
    .option('--pod-namespace <ns>', 'pod namespace (env POD_NAMESPACE)')
    .option('--ip <ip>', 'pod IP (env INSTANCE_IP)')
    .option('--service-account <sa>', 'service account (env SERVICE_ACCOUNT)')
    .option('--domain <domain>', 'DNS domain (default <ns>.svc.cluster.local)')
    .option('--trust-domain <td>', 'trust domain (env TRUST_DOMAIN; default cluster.local)')
    .option('--labels-file <path>', 'downward-API labels file (default /etc/istio/pod/labels)')
    .option('--node-id <id>', 'override the node id')
    .option('--admin-host <host>', 'admin bind address (default 127.0.0.1)')
    .option('--admin-port <port>', 'admin port (default 15000)')
    .option('--status-port <port>', 'readiness port, /healthz/ready (default 15021)')
    .option('--prometheus-port <port>', 'Prometheus port, /stats/prometheus (default 15090)')
    .option('--drain-duration <d>', 'max time to finish in-flight requests on SIGTERM (default 5s)')
    .option('--log-level <level>', 'log level (env PROXY_LOG_LEVEL; default info)')
    .option('--ca-address <host:port>', 'CA for the workload certificate (env CA_ADDR; none: certificates only over SDS)')
    .option('--ca-root-file <path>', 'root that verifies the CA (env CA_ROOT_FILE; default /var/run/secrets/istio/root-cert.pem)')
    .option('--token-file <path>', 'service-account token for the CA (env TOKEN_FILE; default /var/run/secrets/tokens/istio-token)')
    .option('--secret-ttl <d>', 'requested certificate lifetime (env SECRET_TTL; default: the CA\'s, 24h)')
    .option('--merged-metrics-port <port|off>', 'proxy + app metrics, /stats/prometheus (default 15020)')
    .option('--access-log <stdout|off|path>', 'JSON access log (env ACCESS_LOG_FILE, empty = off; default stdout)')
    .option('--tracing-otlp <url>', 'OTLP/HTTP traces endpoint (env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; default none)')
    .option('--trace-sampling <percent>', 'percentage of new traces sampled (env TRACE_SAMPLING; default 1)')
    .option('--heap-compaction <quiet|off>', 'compact the heap once config has been quiet this long after an update that grew it (needs node --expose-gc; default 1s)')
    .addOption(new Option('--proxyLogLevel <level>').hideHelp())
    .action(async (o: BootstrapFlags & { discoveryAddress?: string; proxyLogLevel?: string }) => {
      const boot = bootstrap(type, { ...o, logLevel: o.logLevel ?? o.proxyLogLevel });
      const proxy = new Proxy(boot);
      // One bad connection must not take every other connection down with it: log and keep serving.
      process.on('uncaughtException', (err) => proxy.log.error({ err: { message: err.message, stack: err.stack } }, 'uncaught exception'));
      process.on('unhandledRejection', (err) => proxy.log.error({ err: String(err) }, 'unhandled rejection'));
      await proxy.start();
      let exiting = false;
      const onSignal = async (sig: string) => {
        if (exiting) return;
        exiting = true;
        proxy.log.info({ signal: sig }, 'draining before exit');
        await proxy.shutdown();
        process.exit(0);
      };
      process.on('SIGTERM', () => void onSignal('SIGTERM'));
      process.on('SIGINT', () => void onSignal('SIGINT'));
    });
}

const program = new Command('tsmesh-proxy').description('tsmesh proxy: Envoy-compatible data plane configured over xDS');
program.addCommand(new Command('proxy').description('run the proxy').addCommand(proxyCommand('sidecar')).addCommand(proxyCommand('router')));
program.addCommand(
  new Command('istio-iptables')
    .description('set up traffic capture in the current network namespace (run by the init container)')
    .option('-p, --envoy-port <port>', 'outbound capture port', String(DEFAULT_IPTABLES.proxyPort))
    .option('-z, --inbound-capture-port <port>', 'inbound capture port', String(DEFAULT_IPTABLES.inboundPort))
    .option('-u, --proxy-uid <uids>', 'UIDs not captured (comma list)', '1337')
    .option('-g, --proxy-gid <gids>', 'GIDs not captured (comma list)', '1337')
    .option('-m, --istio-inbound-interception-mode <mode>', 'REDIRECT', 'REDIRECT')
    .option('-i, --istio-service-cidr <cidrs>', "outbound CIDRs to capture ('*' for all)", '*')
    .option('-x, --istio-service-exclude-cidr <cidrs>', 'outbound CIDRs not captured', '')
    .option('-b, --istio-inbound-ports <ports>', "inbound ports to capture ('*' for all)", '*')
    .option('-d, --istio-local-exclude-ports <ports>', 'inbound ports not captured', '')
    .option('-o, --istio-local-outbound-ports-exclude <ports>', 'outbound ports not captured', '')
    .option('-q, --istio-include-outbound-ports <ports>', 'outbound ports always captured', '')
    .option('--dry-run', 'print the commands instead of running them')
    .option('--cleanup', 'remove the rules instead')
    .action((o: Record<string, string | boolean | undefined>) => {
      if (o.istioInboundInterceptionMode !== 'REDIRECT') throw new Error(`-m ${String(o.istioInboundInterceptionMode)}: only REDIRECT is supported`);
      const rules = o.cleanup ? cleanupRules() : iptablesRules({
        proxyPort: Number(o.envoyPort),
        inboundPort: Number(o.inboundCapturePort),
        uids: list(o.proxyUid as string),
        gids: list(o.proxyGid as string),
        mode: 'REDIRECT',
        includeOutboundCidrs: list(o.istioServiceCidr as string),
        excludeOutboundCidrs: list(o.istioServiceExcludeCidr as string),
        includeInboundPorts: list(o.istioInboundPorts as string),
        excludeInboundPorts: list(o.istioLocalExcludePorts as string),
        excludeOutboundPorts: list(o.istioLocalOutboundPortsExclude as string),
        includeOutboundPorts: list(o.istioIncludeOutboundPorts as string),
      });
      if (o.dryRun) {
        console.log(render(rules));
        return;
      }
      runIptables(rules, { ignoreErrors: !!o.cleanup });
    }),
);

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`tsmesh-proxy: ${err.message}`);
  process.exit(1);
});
