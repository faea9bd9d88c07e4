/** The mesh's root of trust for a local run: a plug-in CA Secret for the CA, and serving certificates issued from it. */
import { createRootCa, createWorkloadCert, issuerToPem, type Issuer } from '@tsmesh/certs';
import type { KubeObject } from './kube';

/** A Secret object from string data (stored base64, as the API server does). */
export function secret(namespace: string, name: string, data: Record<string, string>, type = 'Opaque'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

/** The root the run's CA signs with, and helpers to issue serving certificates from it. */
export class MeshPki {
  private constructor(readonly root: Issuer, readonly trustDomain: string) {}

  /** A new self-signed root (`O=<trust domain>`). */
  static async create(trustDomain = 'cluster.local'): Promise<MeshPki> {
    return new MeshPki(await createRootCa({ subject: `O=${trustDomain}` }), trustDomain);
  }

  /** The root certificate (PEM). */
  get rootPem(): string {
    return this.root.rootPem;
  }

  /** Secret `cacerts` in Istio's plug-in CA layout (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem). */
  async cacertsSecret(namespace = 'istio-system'): Promise<KubeObject> {
    const pem = await issuerToPem(this.root);
    return secret(namespace, 'cacerts', pem);
  }

  /** A `kubernetes.io/tls` Secret (tls.crt chain, tls.key, ca.crt) for `dnsNames`, issued from the root. */
  async tlsSecret(namespace: string, name: string, dnsNames: string[], ttlSeconds = 30 * 24 * 3600): Promise<KubeObject> {
    const c = await createWorkloadCert(this.root, { dnsNames, ttlSeconds });
    return secret(namespace, name, { 'tls.crt': c.chainPem, 'tls.key': c.keyPem, 'ca.crt': c.rootPem }, 'kubernetes.io/tls');
  }

  /**
   * What a cluster's operator installs before the mesh: Secret `cacerts` for the CA, the injector's
   * serving Secret `istio-sidecar-injector-certs`, and the gateway's `tsmesh-gateway-cert` for `gatewayHosts`.
   */
  async bootstrapObjects(gatewayHosts: string[], namespace = 'istio-system'): Promise<KubeObject[]> {
    const injector = 'istio-sidecar-injector';
    return [
      await this.cacertsSecret(namespace),
      await this.tlsSecret(namespace, `${injector}-certs`, [`${injector}.${namespace}.svc`, `${injector}.${namespace}.svc.cluster.local`, `${injector}.${namespace}`, injector]),
      await this.tlsSecret(namespace, 'tsmesh-gateway-cert', gatewayHosts),
    ];
  }

  /** ConfigMap `istio-ca-root-cert` (key root-cert.pem) for `namespace`, as the CA publishes it. */
  rootCertConfigMap(namespace: string): KubeObject {
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio-ca-root-cert', namespace }, data: { 'root-cert.pem': this.rootPem } };
  }
}
