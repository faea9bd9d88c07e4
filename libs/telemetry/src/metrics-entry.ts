/**
 * `@tsmesh/telemetry/metrics`: the metrics half of the lib (Prometheus registry, Istio's standard
 * metrics) without tracing, for processes that load OpenTelemetry only when tracing is configured
 * (the proxy): importing the lib's index brings OpenTelemetry's SDK and OTLP exporter with it.
 */
export * from './metrics';
export * from './istio';
