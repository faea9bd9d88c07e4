/** Istio's annotation and label names the injector reads and writes. */
export const ANNOTATION = {
  /** `sidecar.istio.io/inject`: "true"/"false" opt-in/opt-out (label or annotation). */
  inject: 'sidecar.istio.io/inject',
  /** `sidecar.istio.io/status`: written on injection; its presence marks a pod as injected. */
  status: 'sidecar.istio.io/status',
  /** `traffic.sidecar.istio.io/includeOutboundIPRanges`: CIDRs captured outbound (`*` = all). */
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  /** `traffic.sidecar.istio.io/excludeOutboundIPRanges`: CIDRs never captured outbound. */
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  /** `traffic.sidecar.istio.io/includeInboundPorts`: ports captured inbound (`*` = all). */
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  /** `traffic.sidecar.istio.io/excludeInboundPorts`: ports never captured inbound. */
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  /** `traffic.sidecar.istio.io/includeOutboundPorts`: ports always captured outbound. */
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  /** `traffic.sidecar.istio.io/excludeOutboundPorts`: ports never captured outbound. */
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  /** `sidecar.istio.io/proxyCPU` and friends: the sidecar's resource requests and limits. */
  proxyCPU: 'sidecar.istio.io/proxyCPU',
  proxyMemory: 'sidecar.istio.io/proxyMemory',
  proxyCPULimit: 'sidecar.istio.io/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.istio.io/proxyMemoryLimit',
  /** `sidecar.istio.io/proxyImage`: overrides the sidecar image for this pod. */
  proxyImage: 'sidecar.istio.io/proxyImage',
  /** `sidecar.istio.io/logLevel`: the proxy's log level. */
  logLevel: 'sidecar.istio.io/logLevel',
  /** `sidecar.istio.io/rewriteAppHTTPProbers`: "false" keeps the app's probes as they are. */
  rewriteAppHTTPProbers: 'sidecar.istio.io/rewriteAppHTTPProbers',
  /** `prometheus.istio.io/merge-metrics`: "false" keeps the app's own scrape annotations. */
  mergeMetrics: 'prometheus.istio.io/merge-metrics',
  prometheusScrape: 'prometheus.io/scrape',
  prometheusPort: 'prometheus.io/port',
  prometheusPath: 'prometheus.io/path',
  defaultContainer: 'kubectl.kubernetes.io/default-container',
  defaultLogsContainer: 'kubectl.kubernetes.io/default-logs-container',
  revision: 'istio.io/rev',
} as const;

/** Istio's label names the injector writes. */
export const LABEL = {
  /** `security.istio.io/tlsMode: istio`: peers may send mTLS to this pod. */
  tlsMode: 'security.istio.io/tlsMode',
  canonicalName: 'service.istio.io/canonical-name',
  canonicalRevision: 'service.istio.io/canonical-revision',
  /** Namespace label `istio-injection=enabled|disabled`. */
  namespaceInjection: 'istio-injection',
} as const;

/** Names of what the injector adds to a pod (Istio's). */
export const INJECTED = {
  initContainer: 'istio-init',
  proxyContainer: 'istio-proxy',
  volumes: ['istio-envoy', 'istio-data', 'istio-podinfo', 'istio-token', 'istiod-ca-cert'],
} as const;

/** Istio's well-known ports and the proxy's UID. */
export const PORTS = {
  outboundCapture: 15001,
  inboundCapture: 15006,
  mergedMetrics: 15020,
  readiness: 15021,
  proxyPrometheus: 15090,
} as const;

/** UID and GID the proxy runs as; its own traffic is never captured. */
export const PROXY_UID = 1337;
