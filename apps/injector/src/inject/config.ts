/** The mesh-wide values the injection template uses (Istio's `values` + mesh config, reduced). */
export interface InjectionConfig {
  /** Image of the proxy, used for both istio-init and istio-proxy. */
  proxyImage: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * Kubernetes native sidecar (an init container with `restartPolicy: Always`, Kubernetes ≥ 1.29);
   * false puts istio-proxy among the pod's containers, for older clusters.
   */
  nativeSidecars: boolean;
  /**
   * Rewrite the app's HTTP/TCP probes to go through the proxy's 15020 `/app-health/...`, so they
   * work under STRICT mTLS (on by default, as in Istio).
   */
  rewriteAppProbes: boolean;
  /** xDS address (mesh config `defaultConfig.discoveryAddress`; `DISCOVERY_ADDRESS` and `PROXY_CONFIG`). */
  discoveryAddress: string;
  /** CA address (`CA_ADDR`). */
  caAddress: string;
  trustDomain: string;
  clusterId: string;
  meshId: string;
  /** Revision written to `istio.io/rev` and the status annotation. */
  revision: string;
  /** Proxy log level (Istio's names), unless the pod's `sidecar.istio.io/logLevel` says otherwise. */
  proxyLogLevel: string;
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
}

/** Defaults matching Istio's (ports, names and resource figures) with tsmesh's image and service names. */
export const DEFAULT_CONFIG: InjectionConfig = {
  proxyImage: 'tsmesh/proxy:latest',
  imagePullPolicy: 'IfNotPresent',
  nativeSidecars: true,
  rewriteAppProbes: true,
  // Plaintext ADS: istiod serves 15012 (TLS) only with a certificate; point this there once it does.
  discoveryAddress: 'istiod.istio-system.svc:15010',
  caAddress: 'istio-ca.istio-system.svc:8060',
  trustDomain: 'cluster.local',
  clusterId: 'Kubernetes',
  meshId: 'cluster.local',
  revision: 'default',
  proxyLogLevel: 'warning',
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2000m', memory: '1024Mi' } },
};
