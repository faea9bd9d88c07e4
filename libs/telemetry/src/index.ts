/** @tsmesh/telemetry: Prometheus metrics with Istio's standard names and labels, and tracing (OTLP, W3C and B3). */
export * from './metrics';
export * from './istio';
export * from './tracing';
export * from './exposition';
export * from './mesh-view';
