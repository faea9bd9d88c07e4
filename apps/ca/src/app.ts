/**
 * Wires a CaConfig into a running CA: picks the root of trust (plug-in cacerts, then the
 * Kubernetes Secret or the root file), the authenticator (TokenReview or JWKS), publishes the
 * trust bundle (ConfigMaps or a file) and starts the servers.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { createRootCa, type Issuer } from '@tsmesh/certs';
import type { Authenticator } from './auth/authenticator';
import { JwtAuthenticator } from './auth/jwt';
import { TokenReviewAuthenticator } from './auth/token-review';
import { ConfigMapBundlePublisher } from './bundle/configmap';
import type { CaConfig } from './config';
import { CaConfigError } from './errors';
import { writeFileAtomic } from './files';
import { hasPluginCa, loadPluginCa } from './root/plugin';
import { loadOrCreateFileRoot } from './root/file-store';
import { loadOrCreateSecretRoot } from './root/secret-store';
import { startCaServer, trustBundle, type RunningCa } from './server';

/** A started CA with where its root came from. */
export interface StartedCa extends RunningCa {
  issuer: Issuer;
  rootSource: 'cacerts' | 'secret' | 'file' | 'memory';
}

/** Starts the CA described by `config`. `kubeConfig` overrides how the API server is reached (tests). */
export async function startCa(config: CaConfig, log: Logger, kubeConfig?: KubeConfig): Promise<StartedCa> {
  const kc = config.kubernetes ? (kubeConfig ?? loadKubeConfig(config.kubeconfig)) : undefined;
  const { issuer, rootSource } = await loadRoot(config, log, kc);

  let authenticator: Authenticator;
  if (kc) authenticator = new TokenReviewAuthenticator(kc, config.audiences);
  else {
    authenticator = new JwtAuthenticator({
      jwksFile: config.jwksFile!,
      audiences: config.audiences,
      issuer: config.issuer,
      onReloadError: (err) => log.warn({ err: err.message }, 'JWKS reload failed; keeping the previous keys'),
    });
  }

  const bundle = trustBundle(issuer);
  if (config.bundleOut) {
    writeFileAtomic(config.bundleOut, bundle);
    log.info({ path: config.bundleOut }, 'trust bundle written');
  }
  let publisher: ConfigMapBundlePublisher | undefined;
  if (kc) {
    publisher = new ConfigMapBundlePublisher(kc, bundle, (r) => {
      if (r instanceof Error) log.warn({ err: r.message }, 'trust bundle reconcile failed');
      else if (r.created.length || r.updated.length || r.failed.length) log.info(r, 'trust bundle ConfigMaps reconciled');
    });
    await publisher.start(config.bundleResyncSeconds * 1000).catch((err: Error) => log.warn({ err: err.message }, 'trust bundle reconcile failed; will retry'));
  }

  const tls = config.tlsCertFile ? { certChainPem: readConfigFile(config.tlsCertFile, '--tls-cert'), keyPem: readConfigFile(config.tlsKeyFile!, '--tls-key') } : undefined;
  const ns = config.namespace;
  const running = await startCaServer({
    listen: config.listen,
    issuer,
    authenticator,
    tls,
    servingDnsNames: [`istio-ca.${ns}.svc`, `istio-ca.${ns}.svc.cluster.local`, `istio-ca.${ns}`, 'istio-ca', 'localhost'],
    monitoringPort: config.monitoringPort,
    trustDomain: config.trustDomain,
    defaultTtlSeconds: config.defaultTtlSeconds,
    maxTtlSeconds: config.maxTtlSeconds,
    log,
  });
  return {
    ...running,
    issuer,
    rootSource,
    close: async () => {
      publisher?.stop();
      await running.close();
    },
  };
}

async function loadRoot(config: CaConfig, log: Logger, kc: KubeConfig | undefined): Promise<{ issuer: Issuer; rootSource: StartedCa['rootSource'] }> {
  if (hasPluginCa(config.cacertsDir)) {
    log.info({ dir: config.cacertsDir }, 'using plug-in CA certificates');
    return { issuer: await loadPluginCa(config.cacertsDir), rootSource: 'cacerts' };
  }
  if (kc) {
    const { issuer, created } = await loadOrCreateSecretRoot(kc, config.namespace, config.trustDomain);
    log.info({ created }, 'self-signed root from Secret istio-ca-secret');
    return { issuer, rootSource: 'secret' };
  }
  if (config.rootFile) {
    const { issuer, created } = await loadOrCreateFileRoot(config.rootFile, config.trustDomain);
    log.info({ path: config.rootFile, created }, 'self-signed root from file');
    return { issuer, rootSource: 'file' };
  }
  log.warn('no --cacerts, --root-file or --kubernetes: the self-signed root lives in memory and changes on restart');
  return { issuer: await createRootCa({ subject: `O=${config.trustDomain}` }), rootSource: 'memory' };
}

function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromDefault();
  } catch (err) {
    throw new CaConfigError(`kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  return kc;
}

function readConfigFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CaConfigError(`${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}
